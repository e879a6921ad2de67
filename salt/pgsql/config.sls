{#- Patroni's configuration and the bootstrap script that creates the system users. Both hold
    passwords: owner postgres, mode 0600, and Salt shows no diff of them. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - pgsql.install
{%- if pg %}

{#- Patroni runs initdb into the data directory; its parent must belong to the dbsu. #}
pgsql-data-parent-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](pg.data) }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0700'
    - require:
      - pkg: pgsql-postgres-pkg-installed

pgsql-patroni-dir-file-directory:
  file.directory:
    - name: /etc/patroni
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0700'
    - require:
      - pkg: pgsql-postgres-pkg-installed

pgsql-patroni-config-file-managed:
  file.managed:
    - name: /etc/patroni/patroni.yml
    - source: salt://pgsql/files/patroni.yml.j2
    - template: jinja
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0600'
    - show_changes: False
    - require:
      - file: pgsql-patroni-dir-file-directory

{#- Run once by Patroni on the primary right after initdb (post_bootstrap): the system users,
    their passwords as SCRAM verifiers. Later password or attribute changes belong to the users
    state (pgsql.users manages the system users too), not to this script. #}
pgsql-bootstrap-sql-managed:
  pigsalt_pg.bootstrap_sql_managed:
    - name: /etc/patroni/bootstrap.sql
    - users: {{ pg.system_users | json }}
    - dbsu: {{ pg.dbsu }}
    - require:
      - file: pgsql-patroni-dir-file-directory

pgsql-bootstrap-script-file-managed:
  file.managed:
    - name: /etc/patroni/post_bootstrap.sh
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0700'
    - contents: |
        #!/bin/sh
        # Managed by Salt (pgsql.config). Patroni runs it once, after initdb, as the dbsu;
        # psql reaches Postgres over the local socket (peer) and reads the passwords from a
        # file only the dbsu can read.
        exec psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname=postgres --file=/etc/patroni/bootstrap.sql
    - require:
      - file: pgsql-patroni-dir-file-directory
{%- else %}

pgsql-config-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
