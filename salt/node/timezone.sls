{#- The node's time zone. timedatectl works inside systemd-nspawn (systemd-timedated only
    rewrites /etc/localtime), so Salt's own timezone state is enough. #}
{%- set node = pillar['pigsty']['node'] %}

node-timezone-system:
  timezone.system:
    - name: {{ node.timezone }}
