{#- pg_exporter logs in as the monitor user over loopback (scram-sha-256): its password sits
    in the unit's environment file, readable by root only (systemd reads it before dropping
    to the prometheus user). The Pgbouncer exporter runs as the dbsu and reads Pgbouncer's
    console over the local socket (peer): no password. Jinja's urlencode keeps '/' (a path's
    separator): encoded too, or a password holding one ends the URL's authority there. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - exporters.install
{%- if pg %}
{%- set monitor = pg.system_users.monitor %}

exporters-pg-defaults-file-managed:
  file.managed:
    - name: /etc/default/prometheus-postgres-exporter
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - contents: |
        # Managed by Salt (exporters.config): holds the monitor user's password.
        DATA_SOURCE_NAME='postgresql://{{ monitor.name | urlencode }}:{{ monitor.password | urlencode | replace('/', '%2F') }}@127.0.0.1:{{ pg.port }}/postgres?sslmode=disable'
        ARGS='--web.listen-address={{ pillar.pigsty.node.ip }}:{{ pg.exporters.pg }}'
    - require:
      - pkg: exporters-pkg-installed
{%- if pg.pgbouncer.enabled %}
{%- set exporter = pg.exporters.pgbouncer_exporter %}
{%- if exporter.package %}

{#- Debian's Go exporter: its unit reads this file; peer login on Pgbouncer's socket, no password. #}
exporters-pgbouncer-config-file-managed:
  file.managed:
    - name: /etc/default/{{ exporter.unit }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (exporters.config).
        PGBOUNCER_EXPORTER_CONNECTION_STRING='host=/var/run/postgresql port={{ pg.pgbouncer.port }} dbname=pgbouncer user={{ pg.dbsu }} sslmode=disable'
        ARGS='--web.listen-address={{ pillar.pigsty.node.ip }}:{{ pg.exporters.pgbouncer }}'
    - require:
      - pkg: exporters-pkg-installed

{#- Peer authentication needs the OS user to be the dbsu; the package's unit runs as postgres. #}
exporters-pgbouncer-dropin-file-managed:
  file.managed:
    - name: /etc/systemd/system/{{ exporter.unit }}.service.d/pigsalt.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (exporters.config).
        [Service]
        User={{ pg.dbsu }}
        Restart=on-failure
        RestartSec=3
    - require_in:
      - file: exporters-pgbouncer-config-file-managed
{%- else %}

exporters-pgbouncer-config-file-managed:
  file.managed:
    - name: /etc/systemd/system/{{ exporter.unit }}.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (exporters.config).
        [Unit]
        Description=pigsalt's Pgbouncer exporter (:{{ pg.exporters.pgbouncer }}/metrics)
        After=pgbouncer.service

        [Service]
        User={{ pg.dbsu }}
        ExecStart=/opt/pigsalt/salt/bin/python -m pigsalt.agent.pgbouncer_exporter --listen {{ pillar.pigsty.node.ip }}:{{ pg.exporters.pgbouncer }} --pgbouncer-port {{ pg.pgbouncer.port }} --user {{ pg.dbsu }}
        Restart=on-failure
        RestartSec=3

        [Install]
        WantedBy=multi-user.target
{%- endif %}
{%- endif %}
{%- else %}

exporters-config-test-nop:
  test.nop:
    - name: the Postgres exporters run on nodes with a Postgres instance only
{%- endif %}
