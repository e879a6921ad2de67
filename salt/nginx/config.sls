{#- Pigsty's web front door on meta nodes: the offline repository, the portal, the proxies to
    Prometheus, Alertmanager and Grafana, and an index of every HAProxy admin page. #}
{%- set node = pillar['pigsty']['node'] %}

include:
  - nginx.install
  - nginx.index

{%- if node.meta %}

{#- Debian's default site would take port 80 and the default_server role. #}
nginx-default-site-file-absent:
  file.absent:
    - name: /etc/nginx/sites-enabled/default
    - require:
      - pkg: nginx-pkg-installed

nginx-portal-file-managed:
  file.managed:
    - name: /var/www/pigsty/portal/index.html
    - source: salt://nginx/files/portal.html.j2
    - template: jinja
    - mode: '0644'
    - makedirs: True

nginx-pigsty-conf-file-managed:
  file.managed:
    - name: /etc/nginx/conf.d/pigsty.conf
    - source: salt://nginx/files/pigsty.conf.j2
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: nginx-pkg-installed

{#- A reload keeps the old configuration when the new one is invalid and still succeeds:
    check it first, so that a bad file fails here instead of silently not taking effect. #}
nginx-config-cmd-run:
  cmd.run:
    - name: nginx -t -q
    - onchanges:
      - file: nginx-default-site-file-absent
      - file: nginx-pigsty-conf-file-managed
{%- else %}

nginx-config-test-nop:
  test.nop:
    - name: nginx runs on meta nodes only
{%- endif %}
