# Highstate: every node in the inventory gets the node baseline. Database clusters and the
# meta node's infrastructure are applied by the orchestrations (pigsty.infra, pigsty.cluster).
base:
  'pigsty:node:name':
    - match: pillar
    - node
