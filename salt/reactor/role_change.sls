# reactor-tag: pigsty/pg/role_change
{#- A member's Patroni changed its role (pgsql.events fires this from the member's minion): the
    registration runner re-applies Prometheus' targets and the DNS records on the meta nodes
    from what Patroni says (the member's HBA files already followed, by Patroni's callback).
    The sender is the id Salt authenticated (data['id']); the runner refuses a claim about
    another member and never takes a role from the event. #}
{%- set claimed = data.get('data') if data.get('data') is mapping else {} %}

pigsalt-register-role-change:
  runner.pigsalt.register:
    - args:
      - minion: {{ data.get('id', '') | string | tojson }}
      - event: role_change
      - cluster: {{ claimed.get('cluster') | tojson }}
      - instance: {{ claimed.get('instance') | tojson }}
