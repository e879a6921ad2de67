include:
  - repo.policy
  - repo.install
  - repo.config
