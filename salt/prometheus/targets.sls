{#- Registration: one file per target under the file-discovery directory (pigsty:infra:
    prometheus:targets, from the inventory), each naming the target's identity labels, the
    instances' role as their cluster's Patroni says now (pigsalt.registered_targets; the
    reactor re-applies this state on a role change). Prometheus re-reads them every
    prometheus_sd_interval; a target that has left the inventory loses its file (clean). #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}
{%- set prom = pillar['pigsty']['infra']['prometheus'] %}
{%- set targets = salt['pigsalt.registered_targets']() %}

include:
  - prometheus.install

prometheus-targets-file-directory:
  file.directory:
    - name: {{ prom.sd_dir }}
    - mode: '0755'
    - clean: True
    - require:
      - pkg: prometheus-pkg-installed
{%- for path in targets %}
      - file: prometheus-target-{{ path }}-file-managed
{%- endfor %}
{%- for path, groups in targets.items() %}

prometheus-target-{{ path }}-file-managed:
  file.managed:
    - name: {{ prom.sd_dir }}/{{ path }}
    - mode: '0644'
    - makedirs: True
    - contents: |
        # Managed by Salt (prometheus.targets): registered from the inventory and Patroni.
        {{ groups | yaml(False) | indent(8) }}
{%- endfor %}
{%- else %}

prometheus-targets-test-nop:
  test.nop:
    - name: Prometheus runs on meta nodes only
{%- endif %}
