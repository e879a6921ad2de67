# Highstate: what every node of the inventory converges to. The orchestrations (pigsty.infra,
# pigsty.node) apply the same formulas in order and wait on health between them.
base:
  'I@pigsty:node:name:*':
    - match: compound
    - repo
    - node
    - chrony
  'I@pigsty:node:meta:True':
    - match: compound
    - nginx
    - dns
    - etcd
