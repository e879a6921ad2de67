{#- chronyd, restarted when its configuration or its unit changes. #}

include:
  - chrony.config

{#- systemd does not flag a unit for reload when a drop-in directory appears after it was
    loaded (NeedDaemonReload stays "no"), so Salt's automatic reload misses a new drop-in:
    reload explicitly whenever the drop-in is written or removed (watched by its path). #}
chrony-systemd-reload-module-run:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: /etc/systemd/system/chrony.service.d/pigsalt-container.conf

chrony-service-running:
  pigsalt_service.running:
    - name: chrony
    - enable: True
    - require:
      - module: chrony-systemd-reload-module-run
    - watch:
      - pkg: chrony-pkg-installed
      - file: chrony-config-file-managed
      - file: /etc/systemd/system/chrony.service.d/pigsalt-container.conf
