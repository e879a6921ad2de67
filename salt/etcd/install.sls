{#- etcd on the DCS members (meta nodes listed in pigsty:infra:dcs:members). #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}

{%- if dcs.member %}

{#- Debian's postinst starts etcd at once with the package's defaults: a member named after
    the host, its data in /var/lib/etcd/default, alone in its own cluster. A member that has
    started once ignores the initial-cluster settings for good, so that start must never
    happen: the unit is masked before the first install and etcd.service unmasks it when
    /etc/default/etcd is in place. (policy-rc.d would hold back every package installed
    meanwhile, and /etc/default/etcd cannot be written first because the data directory's
    owner, the etcd user, does not exist before the package.) #}
etcd-unit-cmd-run:
  cmd.run:
    - name: systemctl mask etcd.service
    - unless: dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q 'ok installed'

etcd-pkg-installed:
  pkg.installed:
    - pkgs:
      - etcd-server
      - etcd-client
    - require:
      - cmd: etcd-unit-cmd-run
{%- else %}

etcd-install-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
