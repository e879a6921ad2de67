{#- node_crontab: the node's timed tasks (/etc/crontab's format, with a user), as systemd
    timers (pigsalt-cron-node-*, _states/pigsalt_timer.py); timers of lines no longer listed
    go. #}
node-crontab-timers-managed:
  pigsalt_timer.managed:
    - name: pigsalt-cron-node
    - entries: {{ pillar['pigsty']['node'].get('crontab', []) | json }}
