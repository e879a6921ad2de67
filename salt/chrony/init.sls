include:
  - chrony.install
  - chrony.config
  - chrony.service
