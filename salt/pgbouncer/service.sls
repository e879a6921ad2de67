{#- pgbouncer.ini changes restart Pgbouncer (listen address and socket need it); the
    database list is applied with a RELOAD through the admin console. The HBA and auth
    file states reload it themselves. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - pgbouncer.config
{%- if pg and pg.pgbouncer.enabled %}

pgbouncer-service-running:
  pigsalt_service.running:
    - name: pgbouncer
    - enable: True
    - unmask: True  # earlier pigsalt releases masked it around the first install
    - require:
      - file: pgbouncer-databases-file-managed
      - pigsalt_hba: pgbouncer-hba-managed
      - pigsalt_pgbouncer: pgbouncer-userlist-managed
    - watch:
      - file: pgbouncer-ini-file-managed

pgbouncer-databases-module-run:
  module.run:
    - pgbouncer.reload: []
    - onchanges:
      - file: pgbouncer-databases-file-managed
    - require:
      - pigsalt_service: pgbouncer-service-running

pgbouncer-port-wait-tcp:
  pigsalt_wait.tcp:
    - name: {{ pillar['pigsty']['node']['ip'] }}
    - port: {{ pg.pgbouncer.port }}
    - timeout: 30
    - require:
      - pigsalt_service: pgbouncer-service-running
{%- else %}

pgbouncer-service-test-nop:
  test.nop:
    - name: pgbouncer runs on members with pgbouncer_enabled only
{%- endif %}
