{#- prometheus-node-exporter (Debian's package) on node_exporter_port. #}
{%- set node = pillar['pigsty']['node'] %}

include:
  - repo.policy

{#- Without recommends: the -collectors package adds apt/smartmon textfile timers we do not use. #}
node-exporter-pkg-installed:
  pkg.installed:
    - name: prometheus-node-exporter
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed

{#- Debian's unit runs `prometheus-node-exporter $ARGS` with this file as EnvironmentFile. #}
node-exporter-defaults-file-managed:
  file.managed:
    - name: /etc/default/prometheus-node-exporter
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by pigsalt (salt://node/exporter.sls)
        ARGS="--web.listen-address={{ node.ip }}:{{ node.exporter_port }} --collector.textfile.directory={{ node.textfile_dir }}"
    - require:
      - pkg: node-exporter-pkg-installed

{#- What pigsalt's own agents write for the textfile collector (pgbackrest.prom). #}
node-exporter-textfile-dir-file-directory:
  file.directory:
    - name: {{ node.textfile_dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
    - require:
      - pkg: node-exporter-pkg-installed

node-exporter-service-running:
  pigsalt_service.running:
    - name: prometheus-node-exporter
    - enable: True
    - watch:
      - pkg: node-exporter-pkg-installed
      - file: node-exporter-defaults-file-managed
