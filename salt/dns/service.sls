{%- set node = pillar['pigsty']['node'] %}

include:
  - dns.config

{%- if node.meta %}

{#- dnsmasq re-reads its options only when it starts: a configuration change restarts it. #}
dns-service-running:
  pigsalt_service.running:
    - name: dnsmasq
    - enable: True
    - watch:
      - file: dns-conf-file-managed

{#- The records file is re-read on SIGHUP (the unit's reload): no restart for a new record. #}
dns-records-service-running:
  pigsalt_service.running:
    - name: dnsmasq
    - reload: True
    - require:
      - pigsalt_service: dns-service-running
    - watch:
      - file: dns-records-file-managed
{%- else %}

dns-service-test-nop:
  test.nop:
    - name: dnsmasq runs on meta nodes only
{%- endif %}
