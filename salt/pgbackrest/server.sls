{#- The backup repository on the first meta node: pgBackRest's TLS server (pigsalt-pgbackrest,
    as the postgres user), the node's certificate as its server certificate, and one line of
    tls-server-auth per database node: its client certificate's CN may reach its own cluster's
    stanza only. Each stanza's repository path comes from its cluster's pgbackrest_repo. The
    server holds no passphrase: the members encrypt what they send. A configuration change
    reloads the server (SIGHUP), which drops no running backup. #}
{%- set infra = pillar['pigsty'].get('infra') or {} %}
{%- set srv = infra.get('backup') %}
{%- if srv %}
{%- set tls = pillar['pigsty']['tls'] %}

include:
  - repo.policy

pgbackrest-server-pkg-installed:
  pkg.installed:
    - name: pgbackrest
    - require:
      - file: repo-policy-rc-file-managed

pgbackrest-server-config-dir-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](srv.config) }}
    - user: root
    - group: postgres
    - mode: '0750'
    - require:
      - pkg: pgbackrest-server-pkg-installed
{%- for path in srv.stanzas | map(attribute='path') | unique %}

pgbackrest-server-repo-{{ loop.index }}-file-directory:
  file.directory:
    - name: {{ path }}
    - user: postgres
    - group: postgres
    - mode: '0750'
    - makedirs: True
    - require:
      - pkg: pgbackrest-server-pkg-installed
    - require_in:
      - pigsalt_service: pgbackrest-server-service-running
{%- endfor %}

pgbackrest-server-config-file-managed:
  file.managed:
    - name: {{ srv.server_config }}
    - user: root
    - group: postgres
    - mode: '0640'
    - contents: |
        # Managed by Salt (pgbackrest.server) from the inventory: edit it, not this file.
        [global]
        tls-server-address=*
        tls-server-port={{ srv.port }}
        tls-server-ca-file={{ tls.ca_cert }}
        tls-server-cert-file={{ srv.cert }}
        tls-server-key-file={{ srv.key }}
        log-path=/var/log/pgbackrest
        log-level-console=off
        log-level-file=info
{%- for stanza in srv.stanzas %}
{%- for node in stanza.nodes %}
        tls-server-auth={{ node }}={{ stanza.name }}
{%- endfor %}
{%- endfor %}
{%- for stanza in srv.stanzas %}

        [{{ stanza.name }}]
        repo1-path={{ stanza.path }}
{%- endfor %}
    - require:
      - file: pgbackrest-server-config-dir-file-directory

pgbackrest-server-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/pigsalt-pgbackrest.service
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgbackrest.server).
        [Unit]
        Description=pgBackRest TLS server: pigsalt's backup repository
        After=network-online.target
        Wants=network-online.target

        [Service]
        Type=simple
        User=postgres
        Group=postgres
        ExecStart=/usr/bin/pgbackrest --config={{ srv.server_config }} server
        ExecReload=/bin/kill -HUP $MAINPID
        Restart=always
        RestartSec=1

        [Install]
        WantedBy=multi-user.target

pgbackrest-server-service-running:
  pigsalt_service.running:
    - name: pigsalt-pgbackrest
    - enable: True
    - require:
      - file: pgbackrest-server-config-file-managed
    - watch:
      - file: pgbackrest-server-unit-file-managed

pgbackrest-server-service-reloaded:
  service.running:
    - name: pigsalt-pgbackrest
    - reload: True
    - require:
      - pigsalt_service: pgbackrest-server-service-running
    - watch:
      - file: pgbackrest-server-config-file-managed
{%- else %}

pgbackrest-server-test-nop:
  test.nop:
    - name: the backup repository lives on the first meta node
{%- endif %}
