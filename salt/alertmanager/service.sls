{#- prometheus-alertmanager.service: restarted when its flags change, reloaded (SIGHUP) when
    alertmanager.yml does. #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}

include:
  - alertmanager.config

alertmanager-service-running:
  pigsalt_service.running:
    - name: prometheus-alertmanager
    - enable: True
    - require:
      - file: alertmanager-config-file-managed
    - watch:
      - file: alertmanager-defaults-file-managed

alertmanager-service-reloaded:
  service.running:
    - name: prometheus-alertmanager
    - reload: True
    - require:
      - pigsalt_service: alertmanager-service-running
    - watch:
      - file: alertmanager-config-file-managed
{%- else %}

alertmanager-service-test-nop:
  test.nop:
    - name: Alertmanager runs on meta nodes only
{%- endif %}
