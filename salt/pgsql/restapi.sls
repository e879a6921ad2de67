{#- Patroni's configuration file, applied at once where Patroni runs (a reload: Postgres is
    not restarted), and its REST API over TLS: a Patroni deployed before pigsalt's TLS still
    serves it in clear until it re-reads the file. Runs before anything asks Patroni (the HBA
    role) and, in pigsty.cluster, on every member at once right before HAProxy. Where Patroni
    does not run yet, the file is written and nothing else happens. #}
{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - pgsql.config
{%- if pg %}

pgsql-patroni-config-reload-cmd:
  cmd.run:
    - name: systemctl reload patroni
    - onlyif: systemctl is-active --quiet patroni
    - onchanges:
      - file: pgsql-patroni-config-file-managed

pgsql-patroni-restapi-tls:
  pigsalt_patroni.restapi_tls:
    - name: {{ pg.instance }}
    - require:
      - file: pgsql-patroni-config-file-managed
      - cmd: pgsql-patroni-config-reload-cmd
{%- else %}

pgsql-restapi-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
