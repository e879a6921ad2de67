{#- The meta nodes' infrastructure, in order: offline repository, Nginx (repository and
    portal), DNS, NTP server, the local CA (first meta node) and
    each meta node's certificate, DCS, Prometheus, Alertmanager, Grafana (when the repository
    holds it); then the health checks of checks.infra. A failed step
    stops the run (the next steps require it).

    Run on the master:  salt-run state.orch pigsty.infra #}
{%- set meta = 'I@pigsty:node:meta:True' %}
{#- Steps whose states may say, in one line, why they skipped something (Grafana without its
    package). #}
{%- set notifying = ['grafana'] %}
{%- set steps = ['repo', 'nginx', 'dns', 'chrony', 'pki.ca', 'pki.key', 'pki.sign', 'pki', 'etcd', 'pgbackrest.server', 'prometheus', 'alertmanager', 'grafana', 'checks.infra'] %}

pigsty-infra-modules-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: '{{ meta }}'
    - tgt_type: compound
{%- for step in steps %}

pigsty-infra-{{ step | replace('.', '-') }}-state:
{%- if step in notifying %}
  {#- salt.state leaves out the returns of minions where nothing changed, and with them the
      one-line note a skipped step leaves (test.show_notification); salt.function keeps every
      return (the step counts as run, not as changed: pigsalt deploy reads the states). #}
  salt.function:
    - name: state.sls
    - arg: [{{ step }}]
    - kwarg: {queue: True}
{%- else %}
  salt.state:
    - sls: [{{ step }}]
    - queue: True
{%- endif %}
    - tgt: '{{ meta }}'
    - tgt_type: compound
    - require:
      - salt: {{ 'pigsty-infra-modules-sync' if loop.first else 'pigsty-infra-' ~ (steps[loop.index0 - 1] | replace('.', '-')) ~ '-state' }}
{%- endfor %}
