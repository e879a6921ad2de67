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
{%- else %}

pgbackrest-test-nop:
  test.nop:
    - name: {{ ("no backup: " ~ (bk.reason if bk else "not a database node")) | json }}
{%- endif %}
