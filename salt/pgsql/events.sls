{#- Patroni's role changes reach the Salt master: Patroni's callback (pigsalt.agent.hba_follow
    --notify, as the dbsu) writes pg.patroni.role_change_file after on_start and on_role_change;
    a root path unit watches it and fires `pigsty/pg/role_change` from this minion (salt-call
    event.send: the master sees the event come from this minion's key). The master's reactor
    (salt/reactor/role_change.sls) re-registers from what Patroni says, never from the event's
    data. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}

pgsql-events-service-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-role-event.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsql.events) from the inventory: edit the inventory, not this file.
        [Unit]
        Description=pigsalt: tell the Salt master that Patroni changed {{ pg.instance }}'s role
        After=salt-minion.service

        [Service]
        Type=oneshot
        ExecStart=/opt/pigsalt/salt/bin/salt-call --out=txt event.send pigsty/pg/role_change cluster={{ pg.cluster }} instance={{ pg.instance }}
        TimeoutStartSec=60

pgsql-events-path-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-role-event.path
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsql.events) from the inventory: edit the inventory, not this file.
        [Unit]
        Description=pigsalt: watch Patroni's role-change notes of {{ pg.instance }}

        [Path]
        PathChanged={{ pg.patroni.role_change_file }}
        Unit=pigsalt-role-event.service

        [Install]
        WantedBy=multi-user.target
    - require:
      - file: pgsql-events-service-file-managed

pgsql-events-path-running:
  pigsalt_service.running:
    - name: pigsalt-role-event.path
    - enable: True
    - watch:
      - file: pgsql-events-path-file-managed
      - file: pgsql-events-service-file-managed
{%- else %}

pgsql-events-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
