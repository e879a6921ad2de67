{#- Prometheus' flags (/etc/default/prometheus, read by Debian's unit), prometheus.yml (checked
    by promtool before it is installed) and the rules (checked by promtool before a reload).
    Its data directory is its own. It reads the node's TLS key (the etcd scrape's client
    certificate) through the key's group. #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}
{%- set prom = pillar['pigsty']['infra']['prometheus'] %}
{%- set tls = pillar['pigsty']['tls'] %}

include:
  - prometheus.install

prometheus-data-dir-file-directory:
  file.directory:
    - name: {{ prom.data }}
    - user: prometheus
    - group: prometheus
    - mode: '0750'
    - makedirs: True
    - require:
      - pkg: prometheus-pkg-installed

prometheus-defaults-file-managed:
  file.managed:
    - name: /etc/default/prometheus
    - mode: '0644'
    - contents: |
        # Managed by Salt (prometheus.config) from the inventory: edit the inventory, not this file.
        ARGS="{{ prom.args | join(' ') }}"
    - require:
      - pkg: prometheus-pkg-installed

prometheus-rules-file-recurse:
  file.recurse:
    - name: {{ prom.rules_dir }}
    - source: salt://prometheus/files/rules
    - include_pat: '*.yml'
    - clean: True
    - file_mode: '0644'
    - dir_mode: '0755'
    - require:
      - pkg: prometheus-pkg-installed

prometheus-rules-checked-cmd-run:
  cmd.run:
    - name: promtool check rules {{ prom.rules_dir }}/*.yml
    - onchanges:
      - file: prometheus-rules-file-recurse

prometheus-config-file-managed:
  file.managed:
    - name: {{ prom.config_file }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (prometheus.config) from the inventory: edit the inventory, not this file.
        {{ prom.config | yaml(False) | indent(8) }}
    - check_cmd: promtool check config --syntax-only
    - require:
      - pkg: prometheus-pkg-installed

{#- The console pages (pigsalt.monitor.consoles: the dashboards of docs/dashboards.md), served by
    Prometheus itself at /consoles/index.html; Prometheus reads them at each request. #}
prometheus-consoles-cmd-run:
  cmd.run:
    - name: /opt/pigsalt/salt/bin/python -m pigsalt.monitor.consoles {{ prom.config_dir }} --scrape-interval {{ prom.scrape_interval }} --stateful
    - stateful: True
    - require:
      - pkg: prometheus-pkg-installed

prometheus-ssl-cert-group-present:
  group.present:
    - name: {{ tls.key_group }}
    - addusers: [prometheus]
    - require:
      - pkg: prometheus-pkg-installed
{%- else %}

prometheus-config-test-nop:
  test.nop:
    - name: Prometheus runs on meta nodes only
{%- endif %}
