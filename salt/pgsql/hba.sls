{#- This member's Postgres HBA rules, for the role Patroni says it has NOW (before Patroni
    first runs: the inventory's role). A change is applied with a reload after Postgres has
    checked the new file (pg_hba_file_rules); a file with errors is put back and the state
    fails. Never a restart. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - pgsql.install
{%- if pg %}

pgsql-hba-dir-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](pg.hba_file) }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0700'
    - makedirs: True
    - require:
      - pkg: pgsql-postgres-pkg-installed

pgsql-hba-managed:
  pigsalt_hba.managed:
    - name: {{ pg.hba_file }}
    - kind: postgres
    - rules: {{ pg.hba.postgres | json }}
    - fallback_role: {{ pg.hba_fallback_role }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
    - require:
      - file: pgsql-hba-dir-file-directory
{%- else %}

pgsql-hba-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
