{#- Roles and databases from pg_default_roles, pg_users and pg_databases, and the
    pg_default_privileges of every database: each state gets its arguments from the pillar as
    they are (pigsty:pg:roles, :databases, :default_privileges). Applied to every member: the
    states act only where Patroni says this instance is the leader (the others report that and
    change nothing), so they land on the current primary whichever it is. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}
{%- for role in pg.roles %}

pgsql-role-{{ role.args.name }}-present:
  pigsalt_pg.role_present:
{%- for key, value in role.args | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
{%- endfor %}
{%- for db in pg.databases %}

pgsql-database-{{ db.args.name }}-present:
  pigsalt_pg.database_present:
{%- for key, value in db.args | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
{%- if db.require_roles %}
    - require:
{%- for name in db.require_roles %}
      - pigsalt_pg: pgsql-role-{{ name }}-present
{%- endfor %}
{%- endif %}
{%- endfor %}
{%- for privileges in pg.default_privileges %}

pgsql-database-{{ privileges.args.name }}-default-privileges:
  pigsalt_pg.default_privileges_present:
{%- for key, value in privileges.args | dictsort %}
    - {{ key }}: {{ value | json }}
{%- endfor %}
    - require:
      - pigsalt_pg: pgsql-database-{{ privileges.args.name }}-present
{%- for name in privileges.require_roles %}
      - pigsalt_pg: pgsql-role-{{ name }}-present
{%- endfor %}
{%- endfor %}
{%- else %}

pgsql-users-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
