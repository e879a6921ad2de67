{#- The meta nodes' infrastructure, in order: offline repository, Nginx (repository and
    portal), DNS, NTP server, the local CA (first meta node) and
    each meta node's certificate, DCS, Prometheus, Alertmanager; then the health checks of checks.infra. A failed step
    stops the run (the next steps require it).

    Run on the master:  salt-run state.orch pigsty.infra #}
{%- set meta = 'I@pigsty:node:meta:True' %}
{%- set steps = ['repo', 'nginx', 'dns', 'chrony', 'pki.ca', 'pki.key', 'pki.sign', 'pki', 'etcd', 'prometheus', 'alertmanager', 'checks.infra'] %}

pigsty-infra-modules-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '{{ meta }}'
    - tgt_type: compound
{%- for step in steps %}

pigsty-infra-{{ step | replace('.', '-') }}-state:
  salt.state:
    - tgt: '{{ meta }}'
    - tgt_type: compound
    - sls: [{{ step }}]
    - queue: True
    - require:
      - salt: {{ 'pigsty-infra-modules-sync' if loop.first else 'pigsty-infra-' ~ (steps[loop.index0 - 1] | replace('.', '-')) ~ '-state' }}
{%- endfor %}
