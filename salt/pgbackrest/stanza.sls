{#- The cluster's stanza in the repository and, with pgbackrest_init_backup, a full backup when it
    has none: on the member Patroni says leads (pigsty.cluster runs this on every member once
    replication is up). #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- set bk = pg.backup if pg else none %}

include:
  - pgbackrest
{%- if bk and bk.enabled %}

pgbackrest-stanza-present:
  pigsalt_pgbackrest.stanza_present:
    - name: {{ bk.stanza }}
    - config: {{ bk.config }}
    - user: {{ pg.dbsu }}
    - require:
      - file: pgbackrest-config-file-managed
{%- if bk.init_backup %}

pgbackrest-backup-present:
  pigsalt_pgbackrest.backup_present:
    - name: {{ bk.stanza }}
    - config: {{ bk.config }}
    - user: {{ pg.dbsu }}
    - require:
      - pigsalt_pgbackrest: pgbackrest-stanza-present
{%- endif %}
{%- endif %}
