{#- etcd's RBAC (pigsalt.agent.etcd_auth): the root user and authentication on, then one user and
    role per cluster, read-write on that cluster's Patroni keys only. The file holds the
    passwords (root, 0600); nothing prints one. Compared first (pigsalt_etcd.auth_applied), so
    a rerun (or test=True) changes nothing. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set config = '/etc/etcd/pigsalt-auth.json' %}

include:
  - etcd.health

{%- if dcs.member %}

etcd-auth-dir-file-directory:
  file.directory:
    - name: /etc/etcd
    - user: root
    - group: root
    - mode: '0755'

etcd-auth-config-file-managed:
  file.managed:
    - name: {{ config }}
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - contents: {{ {
        'endpoint': 'https://127.0.0.1:' ~ dcs.client_port,
        'cacert': tls.ca_cert, 'cert': tls.cert, 'key': tls.key,
        'root_password': dcs.auth.root_password, 'users': dcs.auth.users,
      } | json | json }}
    - require:
      - file: etcd-auth-dir-file-directory

etcd-auth-applied:
  pigsalt_etcd.auth_applied:
    - name: {{ config }}
    - require:
      - file: etcd-auth-config-file-managed
      - pigsalt_wait: etcd-health-wait
{%- else %}

etcd-auth-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
