{#- Wait until this member answers as healthy (it has a leader and commits a proposal), up to
    60 s; no change either way. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set endpoint = 'https://' ~ node.ip ~ ':' ~ dcs.client_port %}

include:
  - etcd.service

{%- if dcs.member %}

etcd-health-wait:
  pigsalt_wait.command:
    - name: etcd member {{ endpoint }} answers healthy on /health
    - cmd:
      - /opt/pigsalt/salt/bin/python
      - -m
      - pigsalt.agent.etcd_auth
      - --health
      - {{ endpoint }}
      - --cacert
      - {{ tls.ca_cert }}
      - --cert
      - {{ tls.cert }}
      - --key
      - {{ tls.key }}
    - timeout: 60
    - require:
      - pigsalt_service: etcd-service-running
{%- else %}

etcd-health-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
