{#- Name servers of the node (default: the meta nodes, which run dnsmasq). #}
{%- set node = pillar['pigsty']['node'] %}

{#- On a stock Debian with systemd-resolved, /etc/resolv.conf is a symlink to a stub file the
    resolver rewrites. follow_symlinks: False replaces the link itself with a plain file, so the
    name servers below are the ones the node uses and nothing rewrites them behind Salt's back
    (writing through the link would be undone by systemd-resolved at its next restart). #}
node-dns-resolv-file-managed:
  file.managed:
    - name: /etc/resolv.conf
    - follow_symlinks: False
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by pigsalt (salt://node/dns.sls): local edits are overwritten.
        {%- for server in node.dns_servers %}
        nameserver {{ server }}
        {%- endfor %}
