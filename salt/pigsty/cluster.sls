{#- One PostgreSQL cluster, in order: packages on every member at once, then the primary
    bootstraps and Patroni confirms it leads, then the replicas join, Patroni confirms each
    one streams and the leader's pg_stat_replication lists every one of them; then HBA rules
    (each member's current role), roles and databases (on the member Patroni says leads),
    then Pgbouncer, HAProxy, the VIP, the lease fence (pgsql.fence), the role-change events
    (pgsql.events) and the exporters, and checks that each answers. A failed step
    stops the run (the next steps require it); a failed wait names the member (or its
    Patroni URL) and what it last saw. Work that needs no other member done first shares a
    step (each step is a Salt job, ~1 s even when nothing changes): a member's Postgres and
    its check, its services and theirs.

    Run on the master, after pigsty.infra and pigsty.node:
      salt-run state.orch pigsty.cluster pillar='{"pg_cluster": "pg-test"}' #}
{%- set cluster = salt['pillar.get']('pg_cluster') %}
{%- set clusters = salt['saltutil.runner']('pigsalt.clusters') %}
{%- set spec = clusters.get(cluster) if cluster and clusters is mapping else None %}
{%- if clusters is not mapping %}

pigsty-cluster-runner-test-fail:
  test.fail_without_changes:
    - name: {{ ("the pigsalt.clusters runner did not answer (is pigsalt installed on the master?): " ~ (clusters | string)) | json }}
{%- elif not cluster %}

pigsty-cluster-name-test-fail:
  test.fail_without_changes:
    - name: "pigsty.cluster needs the cluster's name: pillar='{\"pg_cluster\": \"pg-test\"}'"
{%- elif not spec %}

pigsty-cluster-unknown-test-fail:
  test.fail_without_changes:
    - name: "cluster {{ cluster }} is not in the inventory ({{ clusters | sort | join(', ') }})"
{%- else %}
{%- set members = 'I@pigsty:pg:cluster:' ~ cluster %}
{#- The inventory's primary bootstraps a new cluster; on later runs the order is harmless (the
    cluster exists in the DCS, nobody initialises it again) and every check asks Patroni. #}
{%- set primary = 'L@' ~ spec.primary %}
{%- set replicas = 'L@' ~ (spec.replicas | join(',')) %}

{#- A cluster deployed before pigsalt's TLS: every member's Patroni starts serving its REST
    API over HTTPS (all members at once), then every member's HAProxy checks and VIP keeper
    follow (all at once). Before that, every HAProxy that still checks in clear holds the checks
    of its UP servers (they stay UP) while the Patronis change scheme; the reloads start new
    workers with TLS checks once every Patroni answers over TLS (a reload on one member while
    another's Patroni still answered in clear marked that one DOWN for seconds: seen on 5433 of
    the replicas). The held checks are resumed after the step either way. Postgres is not
    restarted. These four steps run only when a member's REST API answers in clear or cannot be
    told (the pigsalt.restapi_schemes runner probes each member's port from here): on a
    converted cluster they changed nothing and cost ~5 s, and a new cluster (no Patroni
    running) gets TLS from its first start. #}
{%- set schemes = salt['saltutil.runner']('pigsalt.restapi_schemes', arg=[cluster]) %}
{%- set in_clear = [] %}
{%- if schemes is not mapping %}
{%-   do in_clear.append('(the probe failed: ' ~ (schemes | string)[:200] ~ ')') %}
{%- else %}
{%-   for minion, scheme in schemes | dictsort if scheme not in ('https', 'down') %}
{%-     do in_clear.append(minion ~ ': ' ~ scheme) %}
{%-   endfor %}
{%- endif %}

{#- The custom modules and states, from the master: pigsalt.sync looks at pigsalt's kinds of
    module only and refreshes the minion's modules only when one changed (~1 s; Salt's
    sync_all, ~3 s, looks at twenty kinds and recompiles the pillar every time). Before a TLS
    conversion (it calls functions of the running minion right after) the full refresh. #}
pigsty-cluster-modules-sync:
  salt.function:
    - name: {{ 'saltutil.sync_all' if in_clear else 'pigsalt.sync' }}
    - tgt: '{{ members }}'
    - tgt_type: compound

{%- if in_clear %}

pigsty-cluster-haproxy-hold-function:
  salt.function:
    - name: haproxy.hold_clear_checks
    - tgt: '{{ members }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-cluster-modules-sync

pigsty-cluster-restapi-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [pgsql.restapi]
    - queue: True
    - require:
      - salt: pigsty-cluster-haproxy-hold-function

pigsty-cluster-clients-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [haproxy, vip]
    - queue: True
    - require:
      - salt: pigsty-cluster-restapi-state

pigsty-cluster-haproxy-resume-function:
  salt.function:
    - name: haproxy.resume_checks
    - tgt: '{{ members }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-cluster-clients-state

pigsty-cluster-haproxy-resume-onfail-function:
  salt.function:
    - name: haproxy.resume_checks
    - tgt: '{{ members }}'
    - tgt_type: compound
    - onfail:
      - salt: pigsty-cluster-haproxy-hold-function
      - salt: pigsty-cluster-restapi-state
      - salt: pigsty-cluster-clients-state
{%- endif %}

{#- Each member's Postgres and its check run in one job (failhard: a failed state stops the
    run before the wait); pgsql includes pgsql.install (the packages). #}
pigsty-cluster-primary-state:
  salt.state:
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - sls: [pgsql, pgbackrest, checks.pgsql]
    - failhard: True
    - queue: True
    - require:
      - salt: {{ 'pigsty-cluster-haproxy-resume-function' if in_clear else 'pigsty-cluster-modules-sync' }}

{%- if spec.replicas %}

pigsty-cluster-replicas-state:
  salt.state:
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - sls: [pgsql, pgbackrest, checks.pgsql]
    - failhard: True
    - queue: True
    - require:
      - salt: pigsty-cluster-primary-state
{%- endif %}

{#- On the member Patroni says leads (the others change nothing), in one job: the check that
    pg_stat_replication lists every other member streaming, the dynamic configuration (after a
    change every member reloads), then any pending restart: replicas first, one at a time, then a
    switchover and the old primary restarted as a replica. Never a restart of the primary in
    place. #}
pigsty-cluster-leader-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [checks.replication, pgsql.dynamic, pgsql.restart]
    - failhard: True
    - queue: True
    - require:
      - salt: {{ 'pigsty-cluster-replicas-state' if spec.replicas else 'pigsty-cluster-primary-state' }}

pigsty-cluster-users-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [pgsql.hba, pgsql.users, pgbackrest.stanza]
    - queue: True
    - require:
      - salt: pigsty-cluster-leader-state

pigsty-cluster-services-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [pgbouncer, haproxy, vip, pgsql.fence, pgsql.events, pgsql.crontab, exporters, checks.services]
    - failhard: True
    - queue: True
    - require:
      - salt: pigsty-cluster-users-state

{#- Registration: Prometheus on the meta nodes discovers the inventory's targets, this
    cluster's included (file-based discovery: no reload), with the roles Patroni reports, and
    dnsmasq names a cluster without a VIP on its leader; the HAProxy index (h.pigsty) shows each
    instance's role. pigsty.deploy and `pigsalt deploy` pass pg_register=false: their
    pigsty.infra step registered every cluster already. #}
{%- if salt['pillar.get']('pg_register', True) %}

pigsty-cluster-register-state:
  salt.state:
    - tgt: 'I@pigsty:node:meta:True'
    - tgt_type: compound
    - sls: [prometheus.targets, dns, nginx.index]
    - queue: True
    - require:
      - salt: pigsty-cluster-services-state
{%- endif %}
{%- endif %}
