{#- Prometheus on the meta nodes: Debian's package, pigsalt's flags and prometheus.yml, the rules
    (salt://prometheus/files/rules, docs/alerts.md), the targets registration discovers
    (prometheus.targets), the service. #}
include:
  - prometheus.install
  - prometheus.config
  - prometheus.targets
  - prometheus.service
