include:
  - node.hostname
