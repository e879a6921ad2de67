include:
  - vip.install
  - vip.config
  - vip.service
