{#- Grafana on the meta nodes (127.0.0.1:3000, behind g.pigsty) with pigsalt's dashboards, when
    the offline repository holds a `grafana` package. Debian ships none and these machines cannot
    download the vendor's, so a user adds it (pigsalt repo add grafana_<version>_<arch>.deb);
    without it grafana.install says so in one line and nothing else is done. #}
include:
  - grafana.install
  - grafana.config
  - grafana.service
