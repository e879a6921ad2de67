{#- etcd on the DCS members (meta nodes listed in pigsty:infra:dcs:members). #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}

{%- if dcs.member %}

include:
  - repo.policy

{#- Debian's postinst would start etcd at once with the package's defaults (a member named
    after the host, alone in a cluster of its own; a member that has started once ignores the
    initial-cluster settings for good): repo.policy refuses that start, and etcd.service starts
    it once /etc/default/etcd is in place. #}
etcd-pkg-installed:
  pkg.installed:
    - pkgs:
      - etcd-server
      - etcd-client
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

etcd-install-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
