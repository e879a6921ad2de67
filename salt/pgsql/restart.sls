{#- No member has a restart pending (a changed setting that needs one): applied from the
    leader through each member's Patroni, replicas first, then a switchover and the old primary
    restarted as a replica; never the primary in place. The other members change nothing. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-restart-rolling-restarted:
  pigsalt_patroni.rolling_restarted:
    - name: {{ pg.cluster }}
    - timeout: 180
{%- else %}

pgsql-restart-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
