{#- Debian's prometheus on the meta nodes. Its postinst would start it at once with the
    package's own configuration: repo.policy refuses that start, and prometheus.service starts
    it once pigsalt's configuration is in place. #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}

include:
  - repo.policy

prometheus-pkg-installed:
  pkg.installed:
    - name: prometheus
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

prometheus-install-test-nop:
  test.nop:
    - name: Prometheus runs on meta nodes only
{%- endif %}
