include:
  - haproxy.install
  - haproxy.config
  - haproxy.service
