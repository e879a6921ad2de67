{#- Patroni, which starts and supervises Postgres. A changed configuration is applied with a
    reload (SIGHUP): restarting Patroni in place would restart the primary. #}

include:
  - pgsql.config
  - pgsql.hba
{%- if pillar['pigsty'].get('pg') %}

pgsql-patroni-service-running:
  pigsalt_service.running:
    - name: patroni
    - enable: True
    - reload: True
    - require:
      - file: pgsql-patroni-unit-file-managed
      - file: pgsql-data-parent-file-directory
      - pigsalt_pg: pgsql-bootstrap-sql-managed
      - file: pgsql-bootstrap-script-file-managed
      - pigsalt_hba: pgsql-hba-managed
      - group: pgsql-ssl-cert-group-present
    - watch:
      - file: pgsql-patroni-config-file-managed
{%- else %}

pgsql-service-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
