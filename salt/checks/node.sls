{#- Facts that say a node's baseline works. Applied by pigsty.node after the formulas; every
    state waits (with a timeout) and changes nothing. #}
{%- set node = pillar['pigsty']['node'] %}

checks-node-exporter-http:
  pigsalt_wait.http:
    - name: http://{{ node['ip'] }}:{{ node['exporter_port'] }}/metrics
    - timeout: 60
{%- for server in node['dns_servers'] %}

checks-dns-own-name-dns-{{ loop.index }}:
  pigsalt_wait.dns:
    - name: {{ node['name'] }}
    - server: {{ server }}
    - expect: {{ node['ip'] }}
    - timeout: 60
{%- endfor %}

checks-chrony-sources-command:
  pigsalt_wait.command:
    - name: chrony answers
    - cmd: [chronyc, -n, sources]
    - timeout: 60
