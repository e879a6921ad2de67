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

{#- Patroni (etcd's client certificate) and Postgres (ssl) read the node's key through the
    ssl-cert group (root:ssl-cert 0640); Debian's postgresql-common adds the dbsu already. #}
pgsql-ssl-cert-group-present:
  group.present:
    - name: {{ pillar['pigsty']['tls']['key_group'] }}
    - addusers: [{{ pg.dbsu }}]
    - require:
      - pkg: pgsql-postgres-pkg-installed

{#- patroni_watchdog_mode automatic/required: on a real machine, the kernel's softdog when no
    hardware watchdog is there, and /dev/watchdog for the dbsu (Patroni opens it). A container
    has no watchdog of its own: Patroni runs without one there (automatic). #}
{%- if pg.patroni.watchdog != 'off' and not grains.get('pigsalt_container', False) %}

pgsql-softdog-kmod-present:
  kmod.present:
    - name: softdog
    - persist: True
    - unless: test -e /dev/watchdog

pgsql-watchdog-udev-file-managed:
  file.managed:
    - name: /etc/udev/rules.d/61-pigsalt-watchdog.rules
    - contents: 'KERNEL=="watchdog", OWNER="{{ pg.dbsu }}", GROUP="{{ pg.dbsu }}", MODE="0600"'
    - mode: '0644'
    - makedirs: True

pgsql-watchdog-owner-cmd-run:
  cmd.run:
    - name: chown {{ pg.dbsu }}:{{ pg.dbsu }} /dev/watchdog && chmod 0600 /dev/watchdog
    - onlyif: test -e /dev/watchdog
    - unless: test "$(stat -c %U /dev/watchdog)" = {{ pg.dbsu }}
    - require:
      - kmod: pgsql-softdog-kmod-present
      - pkg: pgsql-postgres-pkg-installed
{%- endif %}

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
