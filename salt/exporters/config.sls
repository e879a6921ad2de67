{#- pg_exporter logs in as the monitor user over loopback (scram-sha-256): its password sits
    in the unit's environment file, readable by root only (systemd reads it before dropping
    to the prometheus user). The Pgbouncer exporter runs as the dbsu and reads Pgbouncer's
    console over the local socket (peer): no password. #}
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
        DATA_SOURCE_NAME='postgresql://{{ monitor.name | urlencode }}:{{ monitor.password | urlencode }}@127.0.0.1:{{ pg.port }}/postgres?sslmode=disable'
        ARGS='--web.listen-address=:{{ pg.exporters.pg }}'
    - require:
      - pkg: exporters-pkg-installed
{%- if pg.pgbouncer.enabled %}

exporters-pgbouncer-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-pgbouncer-exporter.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (exporters.config).
        [Unit]
        Description=pigsalt's Pgbouncer exporter (:{{ pg.exporters.pgbouncer }}/metrics)
        After=pgbouncer.service

        [Service]
        User={{ pg.dbsu }}
        ExecStart=/opt/pigsalt/salt/bin/python -m pigsalt.agent.pgbouncer_exporter --listen 0.0.0.0:{{ pg.exporters.pgbouncer }} --pgbouncer-port {{ pg.pgbouncer.port }} --user {{ pg.dbsu }}
        Restart=on-failure
        RestartSec=3

        [Install]
        WantedBy=multi-user.target
{%- endif %}
{%- else %}

exporters-config-test-nop:
  test.nop:
    - name: the Postgres exporters run on nodes with a Postgres instance only
{%- endif %}
