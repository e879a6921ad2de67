{#- The leader is never restarted in place: when it has a restart pending, Patroni hands the
    leadership to a replica first (then pgsql.restart restarts the old primary as a replica). #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-switchover-leader-released:
  pigsalt_patroni.leader_released:
    - name: {{ pg.instance }}
    - timeout: 180
{%- else %}

pgsql-switchover-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
