include:
  - exporters.install
  - exporters.config
  - exporters.service
