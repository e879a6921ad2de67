{#- dnsmasq on meta nodes: answers for the inventory's names (nodes, instances, clusters,
    portal names) and forwards nothing else unless upstreams are given. A cluster without a VIP
    is named on its leader as Patroni says now (pigsalt.registered_records; the reactor
    re-applies this state on a role change). #}
{%- set node = pillar['pigsty']['node'] %}

include:
  - dns.install

{%- if node.meta %}
{%- set dns = pillar['pigsty']['infra']['dns'] %}

dns-conf-file-managed:
  file.managed:
    - name: /etc/dnsmasq.d/pigsty.conf
    - mode: '0644'
    - check_cmd: dnsmasq --test -C
    - contents: |
        # Managed by Salt (dns.config) from the inventory: edit the inventory, not this file.
        port=53
        listen-address={{ node.ip }},127.0.0.1
        bind-interfaces
        # The records come from the inventory only, never from this node's /etc/hosts.
        no-hosts
        addn-hosts=/etc/dnsmasq.pigsty.hosts
        domain-needed
        bogus-priv
        # Never read /etc/resolv.conf: it may point back at this server.
        no-resolv
        {%- for upstream in dns.upstreams %}
        server={{ upstream }}
        {%- endfor %}
        # No DHCP: no dhcp-range is configured.
    - require:
      - pkg: dns-pkg-installed

dns-records-file-managed:
  file.managed:
    - name: /etc/dnsmasq.pigsty.hosts
    - mode: '0644'
    - contents: |
        # Managed by Salt (dns.config) from the inventory: edit the inventory, not this file.
        {%- for record in salt['pigsalt.registered_records']() %}
        {{ record.ip }} {{ record.name }}
        {%- endfor %}
{%- else %}

dns-config-test-nop:
  test.nop:
    - name: dnsmasq runs on meta nodes only
{%- endif %}
