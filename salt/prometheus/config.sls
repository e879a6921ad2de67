{#- Prometheus' flags (/etc/default/prometheus, read by Debian's unit), prometheus.yml (checked
    by promtool before it is installed) and the rules (checked by promtool before a reload).
    Its data directory is its own. #}
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
    # In test mode the same command with --dry-run says whether anything would change.
    - stateful:
      - test_name: /opt/pigsalt/salt/bin/python -m pigsalt.monitor.consoles {{ prom.config_dir }} --scrape-interval {{ prom.scrape_interval }} --stateful --dry-run
    - require:
      - pkg: prometheus-pkg-installed

{#- The etcd scrape's client key: the meta node's own, copied for the prometheus user alone
    (Debian's unit runs it with PrivateUsers=, where the key's group does not reach it). #}
prometheus-etcd-client-key-file-managed:
  file.managed:
    - name: {{ prom.client_key }}
    - source: {{ tls.key }}
    - user: prometheus
    - group: prometheus
    - mode: '0400'
    - show_changes: False
    - require:
      - pkg: prometheus-pkg-installed
{%- else %}

prometheus-config-test-nop:
  test.nop:
    - name: Prometheus runs on meta nodes only
{%- endif %}
