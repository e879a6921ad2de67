{#- A restart Patroni reports as pending (a changed setting that needs one) is applied here,
    on a replica: pigsty.cluster applies this one member at a time, switches over when the
    leader has one pending (pgsql.switchover), then applies this again. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-restart-restarted:
  pigsalt_patroni.restarted:
    - name: {{ pg.instance }}
    - timeout: 180
{%- else %}

pgsql-restart-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
