{#- The node's host name from the pillar (nodename, else its instance name). #}
{%- set node = pillar['pigsty']['node'] %}

node-hostname-file-managed:
  file.managed:
    - name: /etc/hostname
    - contents: {{ node.name }}
    - mode: '0644'

node-hostname-set:
  pigsalt_node.hostname:
    - name: {{ node.name }}
    - require:
      - file: node-hostname-file-managed
