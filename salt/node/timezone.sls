{#- The node's time zone. timedatectl works inside systemd-nspawn (systemd-timedated only
    rewrites /etc/localtime), so Salt's own timezone state is enough. A null time zone (Pigsty's
    empty node_timezone) leaves the node's own alone. #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.timezone is not none %}

node-timezone-system:
  timezone.system:
    - name: {{ node.timezone }}
{%- else %}

node-timezone-test-nop:
  test.nop:
    - name: node_timezone is empty, the node keeps its own time zone
{%- endif %}
