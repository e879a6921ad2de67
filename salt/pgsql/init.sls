include:
  - pgsql.install
  - pgsql.config
  - pgsql.restapi
  - pgsql.hba
  - pgsql.service
