{#- haproxy.cfg from the services in the pillar (pigsty:pg:services). HAProxy checks it
    before it is installed (`haproxy -c`); it holds the admin page's password, so it is
    readable by root and the haproxy group only and Salt shows no diff of it. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - haproxy.install
{%- if pg and pg.haproxy.enabled %}

haproxy-config-file-managed:
  file.managed:
    - name: /etc/haproxy/haproxy.cfg
    - source: salt://haproxy/files/haproxy.cfg.j2
    - template: jinja
    - user: root
    - group: haproxy
    - mode: '0640'
    - show_changes: False
    - check_cmd: /usr/sbin/haproxy -c -q -f
    - require:
      - pkg: haproxy-pkg-installed
{%- else %}

haproxy-config-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
