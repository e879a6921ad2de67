{#- pg_crontab: the database superuser's timed tasks on every member, as systemd timers
    (pigsalt-cron-pg-*, _states/pigsalt_timer.py); timers of lines no longer listed go. A line
    calling /pg/bin/pg-backup acts where it runs on the primary only (pgbackrest formula). #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-crontab-timers-managed:
  pigsalt_timer.managed:
    - name: pigsalt-cron-pg
    - entries: {{ pg.get('crontab', []) | json }}
{%- else %}

pgsql-crontab-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
