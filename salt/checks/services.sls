{#- Facts that say a member serves its cluster: Pgbouncer, every HAProxy service port, the
    admin page and the exporters accept connections, and (where vip_mode is l2) the VIP
    answers on Postgres' port from this member (the list: pigsty:pg:checks:tcp). Every state
    waits (with a timeout) and changes nothing. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}
{%- for check in pg.checks.tcp %}

checks-{{ check.name }}-tcp:
  pigsalt_wait.tcp:
    - name: {{ check.host }}
    - port: {{ check.port }}
    - timeout: 60
{%- endfor %}
{%- else %}

checks-services-test-nop:
  test.nop:
    - name: services run on nodes that hold a Postgres instance only
{%- endif %}
