include:
  - pgsql.install
  - pgsql.config
  - pgsql.hba
  - pgsql.service
