{#- Everything: the meta nodes' infrastructure, then every node's baseline. The database
    clusters (pigsty.cluster) join here when their formulas land.

    Run on the master:  salt-run state.orch pigsty.deploy #}

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
