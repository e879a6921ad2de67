{#- Pgbouncer (Debian's package) on every member with pgbouncer_enabled.

    Debian's postinst starts pgbouncer at once with the package's configuration (no admin
    user, no HBA file); the unit is masked before the first install so that it first starts
    with pigsalt's (pgbouncer.service unmasks it). #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg and pg.pgbouncer.enabled %}

pgbouncer-unit-cmd-run:
  cmd.run:
    - name: systemctl mask pgbouncer.service
    - unless: dpkg-query -W -f='${Status}' pgbouncer 2>/dev/null | grep -q 'ok installed'

pgbouncer-pkg-installed:
  pkg.installed:
    - name: pgbouncer
    - require:
      - cmd: pgbouncer-unit-cmd-run
{%- else %}

pgbouncer-install-test-nop:
  test.nop:
    - name: pgbouncer runs on members with pgbouncer_enabled only
{%- endif %}
