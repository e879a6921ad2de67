{#- One PostgreSQL cluster, in order: packages on every member at once, then the primary
    bootstraps and Patroni confirms it leads, then the replicas join, Patroni confirms each
    one streams and the leader's pg_stat_replication lists every one of them. A failed step
    stops the run (the next steps require it); a failed wait names the member (or its
    Patroni URL) and what it last saw.

    Run on the master, after pigsty.infra and pigsty.node:
      salt-run state.orch pigsty.cluster pillar='{"pg_cluster": "pg-test"}' #}
{%- set cluster = salt['pillar.get']('pg_cluster') %}
{%- if not cluster %}

pigsty-cluster-name-test-fail:
  test.fail_without_changes:
    - name: "pigsty.cluster needs the cluster's name: pillar='{\"pg_cluster\": \"pg-test\"}'"
{%- else %}
{%- set members = 'I@pigsty:pg:cluster:' ~ cluster %}
{%- set primary = members ~ ' and I@pigsty:pg:role:primary' %}
{%- set replicas = members ~ ' and not I@pigsty:pg:role:primary' %}

pigsty-cluster-modules-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '{{ members }}'
    - tgt_type: compound

pigsty-cluster-packages-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [pgsql.install]
    - require:
      - salt: pigsty-cluster-modules-sync

pigsty-cluster-primary-state:
  salt.state:
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - sls: [pgsql]
    - require:
      - salt: pigsty-cluster-packages-state

pigsty-cluster-primary-leader-state:
  salt.state:
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - sls: [checks.pgsql]
    - require:
      - salt: pigsty-cluster-primary-state

pigsty-cluster-replicas-state:
  salt.state:
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - sls: [pgsql]
    - require:
      - salt: pigsty-cluster-primary-leader-state

pigsty-cluster-replicas-streaming-state:
  salt.state:
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - sls: [checks.pgsql]
    - require:
      - salt: pigsty-cluster-replicas-state

pigsty-cluster-replication-state:
  salt.state:
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - sls: [checks.replication]
    - require:
      - salt: pigsty-cluster-replicas-streaming-state
{%- endif %}
