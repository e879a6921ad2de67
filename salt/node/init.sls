include:
  - node.hostname
  - node.dns
  - node.timezone
  - node.admin
  - node.tune
  - node.exporter
  - node.crontab
