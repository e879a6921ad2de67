{#- The node must run the Debian release the inventory names (node_os): the repository suite,
    the PostgreSQL major and the Salt venv's Python all follow from it. pigsalt never changes a
    node's release, so a mismatch stops the run before anything is installed. #}
{%- set os = pillar['pigsty']['node']['os'] %}
{%- set running = grains['osmajorrelease'] | int %}

{%- if grains['os'] == 'Debian' and running == os.major %}

node-os-test-nop:
  test.nop:
    - name: {{ grains['id'] }} runs Debian {{ running }} ({{ os.name }}, as node_os says)
{%- else %}

node-os-test-fail-without-changes:
  test.fail_without_changes:
    - name: >-
        {{ grains['id'] }} runs {{ grains['os'] }} {{ grains['osrelease'] }} but the inventory says
        node_os {{ os.name }} ({{ os.codename }}): set node_os to the node's release, or move the
        cluster to nodes that run it
{%- endif %}
