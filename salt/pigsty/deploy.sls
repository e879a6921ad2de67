{#- Everything: the meta nodes' infrastructure, then every node's baseline, then every
    PostgreSQL cluster of the inventory (one after the other, in name order).

    Run on the master:  salt-run state.orch pigsty.deploy #}
{%- set clusters = salt['saltutil.runner']('pigsalt.clusters') | sort %}

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
    - require:
      - salt: {{ 'pigsty-deploy-node-orch' if loop.first else 'pigsty-deploy-' ~ clusters[loop.index0 - 1] ~ '-orch' }}
{%- endfor %}
