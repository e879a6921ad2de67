{#- Alertmanager's flags (/etc/default/prometheus-alertmanager, read by Debian's unit) and
    alertmanager.yml, checked by amtool before it is installed. The file may hold the SMTP
    password: root:prometheus 0640, and its changes are not shown. #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}
{%- set am = pillar['pigsty']['infra']['alertmanager'] %}

include:
  - alertmanager.install

alertmanager-defaults-file-managed:
  file.managed:
    - name: /etc/default/prometheus-alertmanager
    - mode: '0644'
    - contents: |
        # Managed by Salt (alertmanager.config) from the inventory: edit the inventory, not this file.
        ARGS="{{ am.args | join(' ') }}"
    - require:
      - pkg: alertmanager-pkg-installed

alertmanager-config-file-managed:
  file.managed:
    - name: {{ am.config_file }}
    - user: root
    - group: prometheus
    - mode: '0640'
    - show_changes: False
    - contents: |
        # Managed by Salt (alertmanager.config) from the inventory: edit the inventory, not this file.
        {{ am.config | yaml(False) | indent(8) }}
    - check_cmd: amtool check-config
    - require:
      - pkg: alertmanager-pkg-installed
{%- else %}

alertmanager-config-test-nop:
  test.nop:
    - name: Alertmanager runs on meta nodes only
{%- endif %}
