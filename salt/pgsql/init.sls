include:
  - pgsql.install
  - pgsql.config
  - pgsql.service
