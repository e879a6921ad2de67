{%- set node = pillar['pigsty']['node'] %}

include:
  - nginx.config

{%- if node.meta %}

{#- Configuration changes reload nginx (no dropped connections); they never restart it. #}
nginx-service-running:
  pigsalt_service.running:
    - name: nginx
    - enable: True
    - reload: True
    - require:
      - cmd: nginx-config-cmd-run
    - watch:
      - file: nginx-default-site-file-absent
      - file: nginx-pigsty-conf-file-managed
{%- else %}

nginx-service-test-nop:
  test.nop:
    - name: nginx runs on meta nodes only
{%- endif %}
