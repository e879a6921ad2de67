{#- HAProxy (Debian's 2.6) on every member with haproxy_enabled: the cluster's services. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg and pg.haproxy.enabled %}

haproxy-pkg-installed:
  pkg.installed:
    - name: haproxy
{%- else %}

haproxy-install-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
