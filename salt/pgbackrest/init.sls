{#- pgBackRest on a member (pgbackrest_enabled): its configuration, which points at the
    repository on the meta node (its TLS server, pgbackrest.server) and presents the node's
    client certificate (pki: CN the node's name, authorised for this cluster's stanza only).
    Postgres archives through it (archive_command, in Patroni's dynamic configuration) from
    whichever member is primary, asynchronously through the spool directory.

    The configuration holds the repository's passphrase: root-owned, readable by the dbsu only,
    and never shown in a state's changes. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- set bk = pg.backup if pg else none %}
{%- if bk and bk.enabled %}

include:
  - repo.policy

pgbackrest-pkg-installed:
  pkg.installed:
    - name: pgbackrest
    - require:
      - file: repo-policy-rc-file-managed

pgbackrest-config-dir-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](bk.config) }}
    - user: root
    - group: {{ pg.dbsu }}
    - mode: '0750'
    - require:
      - pkg: pgbackrest-pkg-installed

{%- for dir in (bk.log_dir, bk.spool_dir) %}

pgbackrest-{{ loop.index }}-dir-file-directory:
  file.directory:
    - name: {{ dir }}
    - user: {{ pg.dbsu }}
    - group: {{ pg.dbsu }}
    - mode: '0750'
    - makedirs: True
    - require:
      - pkg: pgbackrest-pkg-installed
{%- endfor %}

pgbackrest-config-file-managed:
  file.managed:
    - name: {{ bk.config }}
    - source: salt://pgbackrest/files/pgbackrest.conf.j2
    - template: jinja
    - user: root
    - group: {{ pg.dbsu }}
    - mode: '0640'
    - show_changes: False
    - require:
      - file: pgbackrest-config-dir-file-directory

{#- pg-backup [full|diff|incr] (Pigsty's name and meaning): a backup where this member is the
    primary, nothing on a replica, so that one schedule on every member (pg_crontab) follows
    the primary. #}
pgbackrest-bin-dir-file-directory:
  file.directory:
    - name: /pg/bin
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

pgbackrest-pg-backup-file-managed:
  file.managed:
    - name: /pg/bin/pg-backup
    - user: root
    - group: {{ pg.dbsu }}
    - mode: '0750'
    - contents: |
        #!/bin/sh
        # Managed by Salt (pgbackrest). pg-backup [full|diff|incr]: a backup of {{ bk.stanza }} when this
        # member is the primary; nothing on a replica (exit 0). Default incr: pgBackRest takes a
        # full backup when there is none to build on.
        set -eu
        type="${1:-incr}"
        case "$type" in
            full|diff|incr) ;;
            *) echo "usage: pg-backup [full|diff|incr]" >&2; exit 2 ;;
        esac
        if [ "$(id -u)" = 0 ]; then
            exec runuser -u {{ pg.dbsu }} -- "$0" "$type"
        fi
        role=$(psql --no-psqlrc -h /var/run/postgresql -p {{ pg.port }} -d postgres -AtXqc "SELECT pg_is_in_recovery()") || {
            echo "pg-backup: Postgres does not answer on port {{ pg.port }}" >&2
            exit 1
        }
        if [ "$role" != "f" ]; then
            echo "pg-backup: this member is a replica, the primary backs up"
            exit 0
        fi
        exec /usr/bin/pgbackrest --config={{ bk.config }} --stanza={{ bk.stanza }} --type="$type" backup
    - require:
      - file: pgbackrest-bin-dir-file-directory
      - file: pgbackrest-config-file-managed

{#- The backup and archive metrics for node_exporter's textfile collector, every minute
    (pigsalt.agent.backup_metrics: the repository's backups, this member's archiver). #}
pgbackrest-metrics-service-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-backup-metrics.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgbackrest).
        [Unit]
        Description=pigsalt: backup and archive metrics of {{ bk.stanza }} for node_exporter

        [Service]
        Type=oneshot
        ExecStart=/opt/pigsalt/salt/bin/python -m pigsalt.agent.backup_metrics --config {{ bk.config }} --stanza {{ bk.stanza }} --user {{ pg.dbsu }} --data {{ pg.data }} --port {{ pg.port }}{% if bk.full_max_age %} --full-max-age {{ bk.full_max_age | int }}{% endif %} --out {{ bk.metrics_file }}
    - require:
      - file: pgbackrest-config-file-managed

pgbackrest-metrics-timer-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-backup-metrics.timer
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgbackrest).
        [Unit]
        Description=pigsalt: backup and archive metrics of {{ bk.stanza }}, every minute

        [Timer]
        OnCalendar=*:*:00
        AccuracySec=1s

        [Install]
        WantedBy=timers.target

pgbackrest-metrics-timer-running:
  pigsalt_service.running:
    - name: pigsalt-backup-metrics.timer
    - enable: True
    - watch:
      - file: pgbackrest-metrics-service-file-managed
      - file: pgbackrest-metrics-timer-file-managed
{%- else %}

pgbackrest-test-nop:
  test.nop:
    - name: {{ ("no backup: " ~ (bk.reason if bk else "not a database node")) | json }}
{%- endif %}
