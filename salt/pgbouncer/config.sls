{#- Pgbouncer's settings, its databases, its HBA and its auth file.

    Only pgbouncer.ini needs a restart when it changes (listen address, socket); the
    databases, the HBA rules (following this instance's current role, from Patroni) and the
    users are applied with a RELOAD, so adding a user or a database drops no client.
    The auth file holds the users' SCRAM verifiers as the local Postgres stores them
    (pg_authid, replicated to every member): Pgbouncer checks the client with them and logs
    in to Postgres with SCRAM pass-through, so no plaintext password is kept anywhere. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - pgbouncer.install
{%- if pg and pg.pgbouncer.enabled %}

pgbouncer-ini-file-managed:
  file.managed:
    - name: /etc/pgbouncer/pgbouncer.ini
    - source: salt://pgbouncer/files/pgbouncer.ini.j2
    - template: jinja
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0640'
    - require:
      - pkg: pgbouncer-pkg-installed

pgbouncer-databases-file-managed:
  file.managed:
    - name: /etc/pgbouncer/databases.ini
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0640'
    - contents: |
        ; Managed by Salt (pgbouncer.config) from pg_databases: edit the inventory, not this file.
        ; Postgres is reached on its local socket (patroni.yml's unix_socket_directories).
{%- for db in pg.pgbouncer.databases %}
        {{ db.name }} = host=/var/run/postgresql port={{ pg.port }} dbname={{ db.name }} pool_mode={{ db.pool_mode }}
{%- endfor %}
    - require:
      - pkg: pgbouncer-pkg-installed

pgbouncer-hba-managed:
  pigsalt_hba.managed:
    - name: /etc/pgbouncer/pgb_hba.conf
    - kind: pgbouncer
    - rules: {{ pg.hba.pgbouncer | json }}
    - fallback_role: {{ pg.hba_fallback_role }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - require:
      - pkg: pgbouncer-pkg-installed

{#- A replica may not have replayed a just-created user yet: retried a few times. #}
pgbouncer-userlist-managed:
  pigsalt_pgbouncer.userlist_managed:
    - name: /etc/pgbouncer/userlist.txt
    - users: {{ pg.pgbouncer.auth_users | json }}
    # Pgbouncer wants the console's dbsu in its auth file even for peer (empty password: peer only).
    - peer_users: [{{ pg.dbsu }}]
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - retry:
        attempts: 10
        interval: 3
    - require:
      - pkg: pgbouncer-pkg-installed
{%- else %}

pgbouncer-config-test-nop:
  test.nop:
    - name: pgbouncer runs on members with pgbouncer_enabled only
{%- endif %}
