{#- Patroni's dynamic configuration (DCS /config) kept equal to pigsty:pg:patroni:dynamic:
    timings from pg_rto/pg_rpo, failsafe mode, pg_rewind, slots, the Postgres parameters.
    Applied on every member; only the member Patroni says leads acts. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-dynamic-config-applied:
  pigsalt_patroni.config_applied:
    - name: {{ pg.cluster }}
    - settings: {{ pg.patroni.dynamic | json }}
    # After a change every member reloads; a setting that takes a restart is waited for until
    # every member flags it (rolling_restarted applies it), the others get one HA loop.
    - settle: {{ pg.patroni.loop_wait }}
    - dbsu: {{ pg.dbsu }}
    - port: {{ pg.port }}
{%- else %}

pgsql-dynamic-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
