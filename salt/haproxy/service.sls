{#- A changed configuration is applied with a reload: Debian's unit runs HAProxy in
    master-worker mode, where a reload starts new workers (taking the listening sockets over
    from the old ones through the admin socket's `expose-fd listeners`) and lets the old
    workers finish their established connections: no connection is dropped. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - haproxy.config
{%- if pg and pg.haproxy.enabled %}

{#- systemd does not flag a unit for reload when a drop-in appears after it was loaded: reload
    it explicitly, before the start or reload that is to run the drop-in's lines. #}
haproxy-systemd-reload-module-run:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: haproxy-server-state-dropin-file-managed

haproxy-service-running:
  pigsalt_service.running:
    - name: haproxy
    - enable: True
    - reload: True
    - require:
      - module: haproxy-systemd-reload-module-run
    - watch:
      - file: haproxy-config-file-managed

haproxy-admin-wait-tcp:
  pigsalt_wait.tcp:
    - name: {{ pillar['pigsty']['node']['ip'] }}
    - port: {{ pg.haproxy.admin_port }}
    - timeout: 30
    - require:
      - pigsalt_service: haproxy-service-running
{%- else %}

haproxy-service-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
