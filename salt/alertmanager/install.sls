{#- Debian's prometheus-alertmanager on the meta nodes; its postinst start is refused by
    repo.policy (alertmanager.service starts it once pigsalt's configuration is in place). #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}

include:
  - repo.policy

alertmanager-pkg-installed:
  pkg.installed:
    - name: prometheus-alertmanager
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

alertmanager-install-test-nop:
  test.nop:
    - name: Alertmanager runs on meta nodes only
{%- endif %}
