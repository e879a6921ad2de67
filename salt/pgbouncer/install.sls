{#- Pgbouncer (Debian's package) on every member with pgbouncer_enabled.

    Debian's postinst would start pgbouncer at once with the package's configuration (no admin
    user, no HBA file): repo.policy refuses that start; pgbouncer.service starts it with
    pigsalt's. #}
{%- set pg = pillar['pigsty'].get('pg') %}

{%- if pg and pg.pgbouncer.enabled %}

include:
  - repo.policy

pgbouncer-pkg-installed:
  pkg.installed:
    - name: pgbouncer
    - require:
      - file: repo-policy-rc-file-managed
{%- else %}

pgbouncer-install-test-nop:
  test.nop:
    - name: pgbouncer runs on members with pgbouncer_enabled only
{%- endif %}
