{#- pigsalt-fence (pigsalt.agent.fence, pg.fence from patroni_fence_mode): while this member is
    the primary, its client ports answer other hosts only as long as a lease in the kernel
    (nftables table inet pigsalt_fence) runs, renewed each second while Patroni confirms the
    leader lock. A primary that stalls past the lease (frozen, paused) cannot acknowledge a
    write before Patroni demotes it. Mode `off` stops the keeper, which deletes its table. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set pg = pillar['pigsty']['pg'] %}
{%- set fence = pg.fence %}

include:
  - repo.policy
{%- if fence.mode == 'lease' %}

pgsql-fence-pkg-installed:
  pkg.installed:
    - name: nftables
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed

pgsql-fence-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-fence.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsql.fence) from the inventory: edit the inventory, not this file.
        [Unit]
        Description=pigsalt lease fence of {{ pg.instance }}'s client ports
        After=network-online.target patroni.service
        Wants=network-online.target

        [Service]
        ExecStart=/opt/pigsalt/salt/bin/python -m pigsalt.agent.fence --patroni https://{{ node.ip }}:{{ pg.patroni.port }} --cacert {{ pillar.pigsty.tls.ca_cert }} --ports {{ fence.ports | join(',') }} --lease {{ fence.lease }}
        # The stop signals the keeper only, which then removes its table with one last command;
        # the default (the whole group) also killed that command and the one in flight.
        KillMode=mixed
        Restart=always
        RestartSec=1

        [Install]
        WantedBy=multi-user.target
    - require:
      - pkg: pgsql-fence-pkg-installed

pgsql-fence-service-running:
  pigsalt_service.running:
    - name: pigsalt-fence
    - enable: True
    - watch:
      - file: pgsql-fence-unit-file-managed
{%- else %}

pgsql-fence-service-dead:
  service.dead:
    - name: pigsalt-fence
    - enable: False
    - onlyif: test -e /etc/systemd/system/pigsalt-fence.service

pgsql-fence-unit-file-absent:
  file.absent:
    - name: /etc/systemd/system/pigsalt-fence.service
    - require:
      - service: pgsql-fence-service-dead
{%- endif %}
