# reactor-tag: salt/minion/*/start
{#- A minion (re)started: when it is in the inventory, the registration runner re-applies
    Prometheus' targets and the DNS records on the meta nodes. A minion that is not in the
    inventory is not registered; no reactor here ever accepts a key (keys are accepted by
    `pigsalt sandbox up` or by an operator with salt-key, after checking the fingerprint). #}

pigsalt-register-minion-start:
  runner.pigsalt.register:
    - args:
      - minion: {{ data.get('id', '') | string | tojson }}
      - event: start
