{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}

include:
  - etcd.config

{%- if dcs.member %}

{#- With several members, apply this to all of them at once: a member reports itself started
    only once the cluster has a quorum. #}
etcd-service-running:
  pigsalt_service.running:
    - name: etcd
    - enable: True
    - unmask: True  # earlier pigsalt releases masked it around the first install
    - require:
      - file: etcd-data-dir-file-directory
      - file: etcd-tls-files-exist
    - watch:
      - file: etcd-default-file-managed
      - group: etcd-ssl-cert-group-present
{%- else %}

etcd-service-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
