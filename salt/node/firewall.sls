{#- The node firewall (pigsty:node:firewall, from pigsalt.pillar.firewall): pigsalt's own
    nftables table `inet pigsalt`, loaded by pigsalt-firewall.service at boot and replaced in
    one transaction when the rules change. A ruleset nft does not accept is never installed
    (`nft -c` checks it first). Debian's nftables.service (which flushes every table) is not
    used. Mode `off` removes the table; `none` changes nothing. #}
{%- set fw = pillar['pigsty']['node']['firewall'] %}

include:
  - repo.policy
{%- if fw.mode == 'zone' %}

node-firewall-pkg-installed:
  pkg.installed:
    - name: nftables
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed

node-firewall-rules-file-managed:
  file.managed:
    - name: /etc/pigsalt/firewall.nft
    - source: salt://node/files/firewall.nft.j2
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - check_cmd: /usr/sbin/nft --check --file
    - require:
      - pkg: node-firewall-pkg-installed

node-firewall-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-firewall.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (node.firewall).
        [Unit]
        Description=pigsalt node firewall (nftables table inet {{ fw.table }})
        DefaultDependencies=no
        After=local-fs.target
        Before=network-pre.target shutdown.target
        Wants=network-pre.target
        Conflicts=shutdown.target

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/usr/sbin/nft --file /etc/pigsalt/firewall.nft
        ExecReload=/usr/sbin/nft --file /etc/pigsalt/firewall.nft
        ExecStop=/usr/sbin/nft delete table inet {{ fw.table }}

        [Install]
        WantedBy=sysinit.target
    - require:
      - pkg: node-firewall-pkg-installed

node-firewall-service-running:
  pigsalt_service.running:
    - name: pigsalt-firewall
    - enable: True
    - reload: True
    - watch:
      - file: node-firewall-rules-file-managed
      - file: node-firewall-unit-file-managed

{#- The running ruleset is the file's (a table deleted by hand is put back). #}
node-firewall-table-loaded:
  pigsalt_node.nft_table_loaded:
    - name: {{ fw.table }}
    - file: /etc/pigsalt/firewall.nft
    - require:
      - pigsalt_service: node-firewall-service-running
{%- elif fw.mode == 'off' %}

node-firewall-service-dead:
  service.dead:
    - name: pigsalt-firewall
    - enable: False
    - onlyif: test -e /etc/systemd/system/pigsalt-firewall.service

node-firewall-table-absent:
  cmd.run:
    - name: /usr/sbin/nft delete table inet {{ fw.table }}
    - onlyif: test -x /usr/sbin/nft && /usr/sbin/nft list table inet {{ fw.table }}
    - require:
      - service: node-firewall-service-dead
{%- else %}

node-firewall-test-nop:
  test.nop:
    - name: "node_firewall_mode none: the node's firewall is left to its owner"
{%- endif %}
