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

{#- A reload carries each server's state over to the new worker (server-state-file in
    haproxy.cfg): without it every server starts UP until its first check, and a write sent to
    5433 in that moment can reach a replica. Debian's ExecReload lines, with the save between
    the check and the signal; a start removes an old state. #}
haproxy-save-state-file-managed:
  file.managed:
    - name: /usr/local/lib/pigsalt/haproxy-save-state.py
    - source: salt://haproxy/files/save-state.py
    - makedirs: True
    - mode: '0755'

haproxy-reload-dropin-file-managed:
  file.managed:
    - name: /etc/systemd/system/haproxy.service.d/pigsalt-server-state.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (haproxy.config): a reload carries the servers' states over.
        [Service]
        ExecStartPre=/bin/rm -f /var/lib/haproxy/server-state
        ExecReload=
        ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c $EXTRAOPTS
        ExecReload=/opt/pigsalt/salt/bin/python /usr/local/lib/pigsalt/haproxy-save-state.py
        ExecReload=/bin/kill -USR2 $MAINPID
    - require:
      - file: haproxy-save-state-file-managed
{%- else %}

haproxy-config-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
