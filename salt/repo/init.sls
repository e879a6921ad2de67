include:
  - repo.install
  - repo.config
