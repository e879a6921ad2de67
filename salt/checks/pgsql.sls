{#- Facts that say this Postgres instance has joined its cluster, from Patroni's REST API:
    the bootstrap primary holds the leader lock, the others stream from it. Applied by
    pigsty.cluster after pgsql; every state waits (with a timeout) and changes nothing.
    The role is the inventory's (pigsty:pg:role): right for a first deployment; after a
    failover the orchestration must ask Patroni who leads (later step). #}
{%- set node = pillar['pigsty']['node'] %}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg %}
{%- set api = 'http://' ~ node['ip'] ~ ':' ~ pg['patroni']['port'] %}
{%- if pg['role'] == 'primary' %}

checks-patroni-leader-http:
  pigsalt_wait.http:
    - name: {{ api }}/leader
    - timeout: 120
{%- else %}

checks-patroni-streaming-http:
  pigsalt_wait.http:
    - name: {{ api }}/replica?replication_state=streaming
    - timeout: 180
{%- endif %}
{%- endif %}
