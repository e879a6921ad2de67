{%- set pg = pillar['pigsty'].get('pg') %}

include:
  - vip.config
{%- if pg and pg.vip.mode == 'l2' %}

vip-service-running:
  pigsalt_service.running:
    - name: pigsalt-vip
    - enable: True
    - watch:
      - file: vip-unit-file-managed
{%- else %}

vip-service-test-nop:
  test.nop:
    - name: the VIP keeper runs on clusters with vip_mode l2 only
{%- endif %}
