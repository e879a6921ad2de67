{%- set pg = pillar['pigsty'].get('pg') %}
{%- set ip = pillar['pigsty']['node']['ip'] %}

include:
  - exporters.config
{%- if pg %}

exporters-pg-service-running:
  pigsalt_service.running:
    - name: prometheus-postgres-exporter
    - enable: True
    - watch:
      - file: exporters-pg-defaults-file-managed

exporters-pg-wait-http:
  pigsalt_wait.http:
    - name: http://{{ ip }}:{{ pg.exporters.pg }}/metrics
    - timeout: 30
    - require:
      - pigsalt_service: exporters-pg-service-running
{%- if pg.pgbouncer.enabled %}

exporters-pgbouncer-service-running:
  pigsalt_service.running:
    - name: {{ pg.exporters.pgbouncer_exporter.unit }}
    - enable: True
    - watch:
      - file: exporters-pgbouncer-config-file-managed

exporters-pgbouncer-wait-http:
  pigsalt_wait.http:
    - name: http://{{ ip }}:{{ pg.exporters.pgbouncer }}/metrics
    - timeout: 30
    - require:
      - pigsalt_service: exporters-pgbouncer-service-running
{%- endif %}
{%- else %}

exporters-service-test-nop:
  test.nop:
    - name: the Postgres exporters run on nodes with a Postgres instance only
{%- endif %}
