{#- The Postgres exporter (Debian's package) on every member. The Pgbouncer exporter is the
    one pg.exporters.pgbouncer_exporter names (pigsalt.pillar.platform): Debian 13's Go package,
    or on Debian 12 pigsalt's own (pigsalt.agent.pgbouncer_exporter, in the Salt venv every node
    has): bookworm's prometheus-pgbouncer-exporter 1.7 dies on Pgbouncer 1.18's SHOW STATS
    (KeyError 'total_requests'), and PyPI's 2.1.2 pins psycopg2 2.8.5, which must be compiled. #}
{%- set pg = pillar['pigsty'].get('pg') %}

{%- if pg %}

include:
  - repo.policy

exporters-pkg-installed:
  pkg.installed:
    - pkgs:
      - prometheus-postgres-exporter
      {%- if pg.pgbouncer.enabled and pg.exporters.pgbouncer_exporter.package %}
      - {{ pg.exporters.pgbouncer_exporter.package }}
      {%- endif %}
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

exporters-install-test-nop:
  test.nop:
    - name: the Postgres exporters run on nodes with a Postgres instance only
{%- endif %}
