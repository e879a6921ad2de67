{#- Wait until this member answers as healthy (it has a leader and commits a proposal).
    The check is the `unless`, so a healthy member makes no change, with test=True too;
    `retry` runs it again every 2 s for 60 s before the state fails with its comment. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set endpoint = 'https://' ~ node.ip ~ ':' ~ dcs.client_port %}

include:
  - etcd.service

{%- if dcs.member %}

etcd-health-cmd-run:
  cmd.run:
    - name: >-
        echo "changed=no comment='etcd member {{ endpoint }} does not answer healthy on /health'";
        exit 1
    - stateful: True
    - unless: >-
        /opt/pigsalt/salt/bin/python -m pigsalt.agent.etcd_auth --health {{ endpoint }}
        --cacert {{ tls.ca_cert }} --cert {{ tls.cert }} --key {{ tls.key }}
    - retry:
        attempts: 30
        interval: 2
        until: True
    - require:
      - pigsalt_service: etcd-service-running
{%- else %}

etcd-health-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
