{#- HAProxy (Debian's 2.6) on every member with haproxy_enabled: the cluster's services. #}
{%- set pg = pillar['pigsty'].get('pg') %}

{%- if pg and pg.haproxy.enabled %}

include:
  - repo.policy

haproxy-pkg-installed:
  pkg.installed:
    - name: haproxy
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

haproxy-install-test-nop:
  test.nop:
    - name: haproxy runs on members with haproxy_enabled only
{%- endif %}
