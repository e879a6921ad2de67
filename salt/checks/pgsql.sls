{#- The fact that says this Postgres instance has joined its cluster, from Patroni's
    `/cluster`: there is a running leader and this member is it or streams from it. Asks
    Patroni, not the inventory, so it holds after a failover too. Waits (with a timeout)
    and changes nothing. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

checks-patroni-joined:
  pigsalt_patroni.joined:
    - name: {{ pg.instance }}
    - timeout: 180
{%- else %}

checks-pgsql-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
