{#- The index of every instance's HAProxy admin page (h.pigsty), each with its role as its
    cluster's Patroni says now (pigsalt.registered_targets). The registration reactor applies it
    again with Prometheus' targets and the DNS records (docs/registration.md). #}
{%- set node = pillar['pigsty']['node'] %}
{%- if node.meta %}

nginx-haproxy-index-file-managed:
  file.managed:
    - name: /var/www/pigsty/haproxy/index.html
    - source: salt://nginx/files/haproxy.html.j2
    - template: jinja
    - mode: '0644'
    - makedirs: True
{%- else %}

nginx-index-test-nop:
  test.nop:
    - name: the HAProxy index is on meta nodes only
{%- endif %}
