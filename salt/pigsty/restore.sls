{#- One cluster back to a point in time from its pgBackRest repository, in place (docs/backup.md):

      salt-run state.orch pigsty.restore pillar='{"pg_cluster": "pg-test", "restore":
        {"type": "time", "target": "2026-12-07 10:00:00+00", "set": "20261207-093000F",
         "confirm": "pg-test"}}'

    type: time (target, and set: the backup to replay from), latest (the end of the archive)
    or backup (set, consistent and no further). confirm repeats the cluster's name: everything
    written after the target is lost. `pigsalt restore` checks the target against the window
    and picks the backup before it runs this.

    In order: a WAL switch archived (pgbackrest check, on the leader, if there is one), Patroni
    stopped on the replicas and then on the primary (no failover), the inventory's primary
    restored and recovered alone to the target (no client can reach it: pgbackrest.restore),
    the cluster's keys removed from the DCS, Patroni started on the restored member (it adopts
    the data directory and leads), the current passwords set again (the restored roles hold the
    passwords of the backup's time), a full backup of the new timeline, the replicas emptied and
    built again (from that backup: Patroni's create_replica_methods), the replication and
    dynamic configuration checked. A failed step stops the
    run: until the DCS reset the replicas still hold the data of before (restart their Patroni to
    serve it again); never two primaries. #}
{%- set cluster = salt['pillar.get']('pg_cluster') %}
{%- set restore = salt['pillar.get']('restore', {}) %}
{%- set clusters = salt['saltutil.runner']('pigsalt.clusters') %}
{%- set spec = clusters.get(cluster) if cluster and clusters is mapping else None %}
{%- set kind = restore.get('type') if restore is mapping else None %}
{%- set problem = [] %}
{%- if clusters is not mapping %}
{%-   do problem.append('the pigsalt.clusters runner did not answer: ' ~ (clusters | string)[:200]) %}
{%- elif not cluster %}
{%-   do problem.append("pigsty.restore needs the cluster's name: pillar='{\"pg_cluster\": \"pg-test\", \"restore\": {...}}'") %}
{%- elif not spec %}
{%-   do problem.append('cluster ' ~ cluster ~ ' is not in the inventory (' ~ (clusters | sort | join(', ')) ~ ')') %}
{%- elif kind not in ('time', 'latest', 'backup') %}
{%-   do problem.append('restore:type must be time, latest or backup (got ' ~ (kind | string) ~ ')') %}
{%- elif kind == 'time' and not restore.get('target') %}
{%-   do problem.append('restore:target: a time restore needs the time, e.g. "2026-12-07 10:00:00+00"') %}
{%- elif kind == 'backup' and not restore.get('set') %}
{%-   do problem.append("restore:set: a backup restore needs the backup's label") %}
{%- elif restore.get('confirm') != cluster %}
{%-   do problem.append('restore:confirm must repeat the cluster name (' ~ cluster ~ '): everything written after the target is lost') %}
{%- endif %}
{%- if problem %}

pigsty-restore-input-test-fail:
  test.fail_without_changes:
    - name: {{ problem[0] | json }}
{%- else %}
{%- set members = 'I@pigsty:pg:cluster:' ~ cluster %}
{%- set primary = 'L@' ~ spec.primary %}
{%- set replicas = 'L@' ~ (spec.replicas | join(',')) %}

pigsty-restore-modules-sync:
  salt.function:
    - name: pigsalt.sync
    - tgt: '{{ members }}'
    - tgt_type: compound

pigsty-restore-archive-function:
  salt.function:
    - name: pgbackrest.check
    - tgt: '{{ members }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-restore-modules-sync

{%- if spec.replicas %}

pigsty-restore-replicas-stop-function:
  salt.function:
    - name: service.stop
    - arg: [patroni]
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-restore-archive-function
{%- endif %}

pigsty-restore-primary-stop-function:
  salt.function:
    - name: service.stop
    - arg: [patroni]
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - require:
      - salt: {{ 'pigsty-restore-replicas-stop-function' if spec.replicas else 'pigsty-restore-archive-function' }}

pigsty-restore-primary-function:
  salt.function:
    - name: pgbackrest.restore
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - timeout: 21600
    - kwarg:
        type: {{ kind }}
        {%- if restore.get('target') %}
        target: {{ restore.target | string | json }}
        {%- endif %}
        {%- if restore.get('set') %}
        set: {{ restore.set | string | json }}
        {%- endif %}
    - require:
      - salt: pigsty-restore-primary-stop-function

pigsty-restore-dcs-function:
  salt.function:
    - name: patroni.remove_cluster
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-restore-primary-function

pigsty-restore-primary-start-function:
  salt.function:
    - name: service.start
    - arg: [patroni]
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-restore-dcs-function

pigsty-restore-primary-state:
  salt.state:
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - sls: [checks.pgsql, pgsql.users]
    - failhard: True
    - queue: True
    - require:
      - salt: pigsty-restore-primary-start-function

{#- The new timeline's first backup, before the replicas are built again: they restore it (a
    backup of the abandoned timeline would not lead to the new one). #}
pigsty-restore-backup-function:
  salt.function:
    - name: pgbackrest.backup
    - tgt: '{{ primary }}'
    - tgt_type: compound
    - timeout: 21600
    - kwarg:
        type: full
    - require:
      - salt: pigsty-restore-primary-state

{%- if spec.replicas %}

pigsty-restore-replicas-clear-function:
  salt.function:
    - name: pgbackrest.clear_for_clone
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - require:
      - salt: pigsty-restore-backup-function

pigsty-restore-replicas-state:
  salt.state:
    - tgt: '{{ replicas }}'
    - tgt_type: compound
    - sls: [pgsql, checks.pgsql]
    - failhard: True
    - queue: True
    - require:
      - salt: pigsty-restore-replicas-clear-function
{%- endif %}

pigsty-restore-leader-state:
  salt.state:
    - tgt: '{{ members }}'
    - tgt_type: compound
    - sls: [checks.replication, pgsql.dynamic]
    - failhard: True
    - queue: True
    - require:
      - salt: {{ 'pigsty-restore-replicas-state' if spec.replicas else 'pigsty-restore-backup-function' }}
{%- endif %}
