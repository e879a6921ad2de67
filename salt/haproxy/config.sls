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

{#- Before a start and before a reload's signal, each server's check of the configuration about
    to be loaded runs once and the results become the server-state file haproxy.cfg loads: a
    new worker starts every server UP or DOWN as its check answers now, instead of UP until its
    first check. Debian's ExecReload lines, with the measure between the check and the signal;
    `-`: a failed measure never fails a start or reload (HAProxy's default then applies). #}
haproxy-server-state-dropin-file-managed:
  file.managed:
    - name: /etc/systemd/system/haproxy.service.d/pigsalt-server-state.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (haproxy.config): each server starts with the health it has now.
        [Service]
        ExecStartPre=-/opt/pigsalt/salt/bin/python -m pigsalt.agent.haproxy_state --config $CONFIG --state /var/lib/haproxy/server-state
        ExecReload=
        ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS
        ExecReload=-/opt/pigsalt/salt/bin/python -m pigsalt.agent.haproxy_state --config $CONFIG --state /var/lib/haproxy/server-state
        ExecReload=/bin/kill -USR2 $MAINPID
{%- else %}

haproxy-config-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
