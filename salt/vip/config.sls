{#- pigsalt-vip holds the cluster's VIP on this member while its Patroni answers 200 on
    /primary (it holds the leader lock and runs as primary), and releases it after two missed
    answers or when stopped; it announces a newly added VIP with gratuitous ARP. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - vip.install
{%- if pg and pg.vip.mode == 'l2' %}

{#- The inventory's interface if the node has it, else the one carrying the member's address;
    a missing interface stops here with the node's name and the interfaces it has. #}
vip-interface-checked:
  pigsalt_vip.interface:
    - name: {{ pg.vip.address }}/{{ pg.vip.cidrmask }}
    - member_ip: {{ node.ip }}
    - wanted: {{ pg.vip.interface | json }}

vip-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-vip.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (vip.config) from the inventory: edit the inventory, not this file.
        [Unit]
        Description=pigsalt VIP {{ pg.vip.address }} on the primary of {{ pg.cluster }}
        After=network-online.target patroni.service
        Wants=network-online.target

        [Service]
        ExecStart=/opt/pigsalt/salt/bin/python -m pigsalt.agent.vip {{ pg.vip.keeper_args | join(' ') }} --patroni https://{{ node.ip }}:{{ pg.patroni.port }} --cacert {{ pillar.pigsty.tls.ca_cert }}
        # The stop signals the keeper only, which then removes the VIP with one last command;
        # the default (the whole group) also killed that command and the one in flight.
        KillMode=mixed
        Restart=always
        RestartSec=2

        [Install]
        WantedBy=multi-user.target
    - require:
      - pkg: vip-iproute-pkg-installed
      - pigsalt_vip: vip-interface-checked
{%- else %}

vip-config-test-nop:
  test.nop:
    - name: the VIP keeper runs on clusters with vip_mode l2 only
{%- endif %}
