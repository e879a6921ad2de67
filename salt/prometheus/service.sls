{#- prometheus.service: restarted when its flags change, reloaded (SIGHUP, Debian's ExecReload)
    when prometheus.yml or the rules do; targets need neither (file discovery). #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}

include:
  - prometheus.config

prometheus-service-running:
  pigsalt_service.running:
    - name: prometheus
    - enable: True
    - require:
      - file: prometheus-data-dir-file-directory
      - file: prometheus-config-file-managed
      - file: prometheus-rules-file-recurse
      - file: prometheus-etcd-client-key-file-managed
    - watch:
      - file: prometheus-defaults-file-managed

prometheus-service-reloaded:
  service.running:
    - name: prometheus
    - reload: True
    - require:
      - pigsalt_service: prometheus-service-running
    - watch:
      - file: prometheus-config-file-managed
      - file: prometheus-rules-file-recurse
      - cmd: prometheus-rules-checked-cmd-run
{%- else %}

prometheus-service-test-nop:
  test.nop:
    - name: Prometheus runs on meta nodes only
{%- endif %}
