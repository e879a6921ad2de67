{#- Alertmanager on the meta nodes (:9093, behind a.pigsty): Debian's package, pigsalt's flags
    and alertmanager.yml (pigsty:infra:alertmanager). Silences and the notification log live in
    its storage directory, written again at each stop, so they survive a restart. #}
include:
  - alertmanager.install
  - alertmanager.config
  - alertmanager.service
