{#- grafana-server.service: restarted when grafana.ini or the provisioning changes (Grafana reads
    its datasources only at start). #}
{%- from 'grafana/map.jinja' import grafana, grafana_runs with context %}
{%- if grafana_runs %}

include:
  - grafana.config

grafana-service-running:
  pigsalt_service.running:
    - name: grafana-server
    - enable: True
    - watch:
      - file: grafana-config-file-managed
      - cmd: grafana-provisioning-cmd-run
{%- else %}

grafana-service-test-nop:
  test.nop:
    - name: Grafana is not installed here
{%- endif %}
