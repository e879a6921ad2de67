{#- The `grafana` package from the offline repository, or one line saying it is not there. Its
    postinst does not start Grafana; repo.policy refuses any start until grafana.service. #}
{%- from 'grafana/map.jinja' import grafana, grafana_runs with context %}
{%- if grafana_runs %}

include:
  - repo.policy

grafana-pkg-installed:
  pkg.installed:
    - name: {{ grafana.package }}
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed
{%- elif pillar['pigsty']['node']['meta'] %}

grafana-install-test-show-notification:
  test.show_notification:
    - text: >-
        Grafana skipped: the offline repository holds no `{{ grafana.package }}` package
        (add the vendor's .deb with `pigsalt repo add`, then run pigsty.infra again);
        the same dashboards are on p.pigsty/consoles/
{%- else %}

grafana-install-test-nop:
  test.nop:
    - name: Grafana runs on meta nodes only
{%- endif %}
