include:
  - dns.install
  - dns.config
  - dns.service
