{#- The node baseline on database nodes (and meta nodes): APT source, baseline (host name,
    DNS client, time zone, admin user, tuning, node_exporter), NTP, the node's key, its
    certificate issued by the local CA (pki.sign on the CA node); then checks.node.

    Run on the master, after pigsty.infra:
      salt-run state.orch pigsty.node                                  # every node
      salt-run state.orch pigsty.node pillar='{"pg_cluster": "pg-test"}'
      salt-run state.orch pigsty.node pillar='{"nodes": "node-1,node-2"}' #}
{%- set cluster = salt['pillar.get']('pg_cluster') %}
{%- set nodes = salt['pillar.get']('nodes') %}
{%- if cluster %}
{%- set target = 'I@pigsty:pg:cluster:' ~ cluster %}
{%- elif nodes %}
{%- set target = 'L@' ~ nodes %}
{%- else %}
{%- set target = 'I@pigsty:node:name:*' %}
{%- endif %}
{%- set steps = ['repo', 'node', 'node.firewall', 'chrony', 'pki.key', 'pki.sign', 'pki', 'checks.node'] %}
{#- pki.sign runs on the CA node (the first meta node), whatever the target: it issues the
    certificates of the keys pki.key has just published. #}
{%- set ca_node = 'I@pigsty:tls:ca:method:*' %}
{#- node.firewall runs on the meta nodes too, whatever the target: their etcd admits every node
    of the inventory, new ones included. #}
{%- set with_meta = '( ' ~ target ~ ' ) or I@pigsty:node:meta:True' %}

pigsty-node-modules-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '{{ target }}'
    - tgt_type: compound
{%- for step in steps %}

pigsty-node-{{ step | replace('.', '-') }}-state:
  salt.state:
    - tgt: '{{ ca_node if step == 'pki.sign' else (with_meta if step == 'node.firewall' else target) }}'
    - tgt_type: compound
    - sls: [{{ step }}]
    - queue: True
    - require:
      - salt: {{ 'pigsty-node-modules-sync' if loop.first else 'pigsty-node-' ~ (steps[loop.index0 - 1] | replace('.', '-')) ~ '-state' }}
{%- endfor %}
