{#- Facts that say the meta node's infrastructure works. Applied by pigsty.infra after the
    formulas; every state waits (with a timeout) and changes nothing. #}
{%- set pigsty = pillar['pigsty'] %}
{%- set node = pigsty['node'] %}
{%- set infra = pigsty['infra'] %}
{%- if node['meta'] %}

checks-nginx-repository-http:
  pigsalt_wait.http:
    - name: http://{{ node['ip'] }}:{{ infra['nginx']['port'] }}/apt/{{ node['os']['codename'] }}/Release
    - timeout: 60

checks-dnsmasq-repository-dns:
  pigsalt_wait.dns:
    - name: {{ infra['repo']['host'] }}
    - server: {{ node['ip'] }}
    - expect: {{ infra['repo']['ip'] }}
    - timeout: 60

checks-chrony-tracking-command:
  pigsalt_wait.command:
    - name: chrony answers
    - cmd: [chronyc, -n, tracking]
    - timeout: 60
{%- if infra['dcs']['member'] %}

checks-etcd-health-command:
  pigsalt_wait.command:
    - name: etcd endpoint health
    - cmd:
      - /opt/pigsalt/salt/bin/python
      - -m
      - pigsalt.agent.etcd_auth
      - --health
      - https://{{ node['ip'] }}:{{ infra['dcs']['client_port'] }}
      - --cacert={{ pillar['pigsty']['tls']['ca_cert'] }}
      - --cert={{ pillar['pigsty']['tls']['cert'] }}
      - --key={{ pillar['pigsty']['tls']['key'] }}
    - timeout: 60
{%- endif %}

checks-prometheus-ready-http:
  pigsalt_wait.http:
    - name: http://127.0.0.1:{{ infra['prometheus']['port'] }}/-/ready
    - timeout: 120

checks-alertmanager-ready-http:
  pigsalt_wait.http:
    - name: http://127.0.0.1:{{ infra['alertmanager']['port'] }}/-/ready
    - timeout: 120
{%- from 'grafana/map.jinja' import grafana, grafana_runs with context %}
{%- if grafana_runs %}

checks-grafana-health-http:
  pigsalt_wait.http:
    - name: http://127.0.0.1:{{ grafana['http_port'] }}/api/health
    - timeout: 120
{%- endif %}
{%- endif %}
