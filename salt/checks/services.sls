{#- Facts that say a member serves its cluster: Pgbouncer, every HAProxy service port, the
    admin page and the exporters accept connections, and (where vip_mode is l2) the VIP
    answers on Postgres' port from this member. Every state waits (with a timeout) and
    changes nothing. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}
{%- set ports = {'pgbouncer': pg.pgbouncer.port if pg.pgbouncer.enabled else None,
                 'haproxy-admin': pg.haproxy.admin_port if pg.haproxy.enabled else None,
                 'pg-exporter': pg.exporters.pg,
                 'pgbouncer-exporter': pg.exporters.pgbouncer if pg.pgbouncer.enabled else None} %}
{%- if pg.haproxy.enabled %}
{%- for svc in pg.services %}
{%- do ports.update({'service-' ~ svc.service: svc.port}) %}
{%- endfor %}
{%- endif %}
{%- for what, port in ports | dictsort if port %}

checks-{{ what }}-tcp:
  pigsalt_wait.tcp:
    - name: {{ node.ip }}
    - port: {{ port }}
    - timeout: 60
{%- endfor %}
{%- if pg.vip.mode == 'l2' %}

checks-vip-tcp:
  pigsalt_wait.tcp:
    - name: {{ pg.vip.address }}
    - port: {{ pg.port }}
    - timeout: 60
{%- endif %}
{%- else %}

checks-services-test-nop:
  test.nop:
    - name: services run on nodes that hold a Postgres instance only
{%- endif %}
