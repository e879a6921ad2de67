{#- The VIP keeper is pigsalt's (pigsalt.agent.vip, in the Salt venv every node has); it needs
    only `ip`. Debian's vip-manager 1.0.2 (bookworm's, and trixie's still: its binary links only
    etcd's v2 client) reads etcd through the v2 API only, where Patroni's etcd3 leader key does
    not exist, so it can never follow the primary. #}
{%- set pg = pillar['pigsty'].get('pg') %}

{%- if pg and pg.vip.mode == 'l2' %}

include:
  - repo.policy

vip-iproute-pkg-installed:
  pkg.installed:
    - name: iproute2
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

vip-install-test-nop:
  test.nop:
    - name: the VIP keeper runs on clusters with vip_mode l2 only
{%- endif %}
