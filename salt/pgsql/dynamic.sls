{#- Patroni's dynamic configuration (DCS /config) kept equal to pigsty:pg:patroni:dynamic:
    timings from pg_rto/pg_rpo, failsafe mode, pg_rewind, slots, the Postgres parameters.
    Applied on every member; only the member Patroni says leads acts. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-dynamic-config-applied:
  pigsalt_patroni.config_applied:
    - name: {{ pg.cluster }}
    - settings: {{ pg.patroni.dynamic | json }}
    # After a change: every member reloads, then gets a loop to apply it and flag restarts.
    - settle: {{ pg.patroni.loop_wait }}
{%- else %}

pgsql-dynamic-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
