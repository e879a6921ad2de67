{#- Roles and databases from pg_default_roles, pg_users and pg_databases, and the
    pg_default_privileges of every database. Applied to every
    member: the states act only where Patroni says this instance is the leader (the others
    report that and change nothing), so they land on the current primary whichever it is. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}
{%- set role_names = (pg.default_roles + pg.users) | map(attribute='name') | list %}
{%- for role in pg.default_roles + pg.users %}

pgsql-role-{{ role.name }}-present:
  pigsalt_pg.role_present:
{%- for key, value in role | dictsort if key not in ('pgbouncer', 'pool_mode', 'pool_connlimit', 'expire_in') %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
{%- endfor %}
{%- for db in pg.databases %}

pgsql-database-{{ db.name }}-present:
  pigsalt_pg.database_present:
{%- for key, value in db | dictsort if key not in ('pgbouncer', 'pool_mode') %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
{%- if db.owner in role_names %}
    - require:
      - pigsalt_pg: pgsql-role-{{ db.owner }}-present
{%- endif %}

pgsql-database-{{ db.name }}-default-privileges:
  pigsalt_pg.default_privileges_present:
    - name: {{ db.name }}
    - owners: {{ pg.default_privileges.owners | json }}
    - grants: {{ pg.default_privileges.grants | json }}
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
    - require:
      - pigsalt_pg: pgsql-database-{{ db.name }}-present
{%- for role in pg.default_roles %}
      - pigsalt_pg: pgsql-role-{{ role.name }}-present
{%- endfor %}
{%- endfor %}
{%- else %}

pgsql-users-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
