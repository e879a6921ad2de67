{#- Everything: the meta nodes' infrastructure, then every node's baseline, then every
    PostgreSQL cluster of the inventory, side by side (clusters share no node).

    Run on the master:  salt-run state.orch pigsty.deploy #}
{%- set found = salt['saltutil.runner']('pigsalt.clusters') %}
{%- if found is not mapping %}

pigsty-deploy-clusters-test-fail:
  test.fail_without_changes:
    - name: {{ ("the pigsalt.clusters runner did not answer (is pigsalt installed on the master?): " ~ (found | string)) | json }}
{%- else %}
{%- set clusters = found | sort %}

pigsty-deploy-infra-orch:
  salt.runner:
    - name: state.orchestrate
    - mods: pigsty.infra

pigsty-deploy-node-orch:
  salt.runner:
    - name: state.orchestrate
    - mods: pigsty.node
    - require:
      - salt: pigsty-deploy-infra-orch
{%- for cluster in clusters %}

pigsty-deploy-{{ cluster }}-orch:
  salt.runner:
    - name: state.orchestrate
    - mods: pigsty.cluster
    - pillar: {pg_cluster: {{ cluster | json }}}
    - parallel: True
    - require:
      - salt: pigsty-deploy-node-orch
{%- endfor %}
{%- endif %}
