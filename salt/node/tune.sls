{#- Kernel parameters and process limits of the node_tune profile. #}
{%- set node = pillar['pigsty']['node'] %}
{#- pigsalt's grain (_grains/pigsalt.py), from Salt's `virtual`. #}
{%- if grains.get('pigsalt_container', False) %}

{#- A container shares the host's kernel: /proc/sys is read-only in it, and its kernel
    parameters belong to the host. Nothing to do here, and nothing to fail. #}
node-sysctl-skipped-test-show_notification:
  test.show_notification:
    - text: >-
        sysctl skipped: this node is a container ({{ grains.get('virtual') }}), its kernel
        parameters belong to the host ({{ node.sysctl | dictsort | map('join', '=') | join(', ') }})
{%- else %}
{%- for key, value in node.sysctl | dictsort %}

node-sysctl-{{ key }}-sysctl-present:
  sysctl.present:
    - name: {{ key }}
    - value: {{ value }}
    - config: /etc/sysctl.d/99-pigsty.conf
{%- endfor %}
{%- endif %}

{#- pam_limits does not apply `*` to root: root gets its own lines. #}
node-limits-file-managed:
  file.managed:
    - name: /etc/security/limits.d/pigsty.conf
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by pigsalt (salt://node/tune.sls, profile {{ node.tune }})
        {%- for item, value in node.limits | dictsort %}
        *     soft  {{ item }}  {{ value }}
        *     hard  {{ item }}  {{ value }}
        root  soft  {{ item }}  {{ value }}
        root  hard  {{ item }}  {{ value }}
        {%- endfor %}
