{#- The member's identity and the initial cluster, as environment for Debian's etcd.service. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set dcs = pillar['pigsty']['infra']['dcs'] %}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set member = dcs.member %}

include:
  - etcd.install

{%- if member %}

{#- Only the data directory belongs to etcd: makedirs would give its parents (/data, shared
    with other services) the same owner and mode. #}
etcd-data-parent-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](dcs.data_dir) }}
    - makedirs: True

etcd-data-dir-file-directory:
  file.directory:
    - name: {{ dcs.data_dir }}
    - user: etcd
    - group: etcd
    - mode: '0700'
    - require:
      - file: etcd-data-parent-file-directory
      - pkg: etcd-pkg-installed

etcd-default-file-managed:
  file.managed:
    - name: /etc/default/etcd
    - mode: '0644'
    - contents: |
        # Managed by Salt (etcd.config) from the inventory: edit the inventory, not this file.
        # The initial-cluster settings only matter for a member's first start.
        ETCD_NAME={{ member.name }}
        ETCD_DATA_DIR={{ dcs.data_dir }}
        # TLS on both ports, signed by the local CA, and a client certificate from the same CA
        # required on both: a client without one cannot even open a connection. Clients then
        # authenticate as an etcd user (RBAC: etcd.auth).
        ETCD_LISTEN_CLIENT_URLS=https://{{ node.ip }}:{{ dcs.client_port }},https://127.0.0.1:{{ dcs.client_port }}
        ETCD_ADVERTISE_CLIENT_URLS=https://{{ node.ip }}:{{ dcs.client_port }}
        ETCD_LISTEN_PEER_URLS=https://{{ node.ip }}:{{ dcs.peer_port }}
        ETCD_INITIAL_ADVERTISE_PEER_URLS=https://{{ node.ip }}:{{ dcs.peer_port }}
        ETCD_INITIAL_CLUSTER={{ dcs.initial_cluster }}
        ETCD_INITIAL_CLUSTER_TOKEN={{ dcs.name }}
        ETCD_INITIAL_CLUSTER_STATE=new
        ETCD_CERT_FILE={{ tls.cert }}
        ETCD_KEY_FILE={{ tls.key }}
        ETCD_TRUSTED_CA_FILE={{ tls.ca_cert }}
        ETCD_CLIENT_CERT_AUTH=true
        ETCD_PEER_CERT_FILE={{ tls.cert }}
        ETCD_PEER_KEY_FILE={{ tls.key }}
        ETCD_PEER_TRUSTED_CA_FILE={{ tls.ca_cert }}
        ETCD_PEER_CLIENT_CERT_AUTH=true
        ETCDCTL_API=3
    - require:
      - pkg: etcd-pkg-installed

{#- The node's key and certificate come from pki (the step before etcd in pigsty.infra); etcd
    re-reads them at each TLS handshake, so a renewal needs no restart. #}
etcd-tls-files-exist:
  file.exists:
    - names:
      - {{ tls.key }}
      - {{ tls.cert }}
      - {{ tls.ca_cert }}

{#- etcd reads the node's key through the ssl-cert group (root:ssl-cert 0640). #}
etcd-ssl-cert-group-present:
  group.present:
    - name: {{ tls.key_group }}
    - addusers: [etcd]
    - require:
      - pkg: etcd-pkg-installed
{%- else %}

etcd-config-test-nop:
  test.nop:
    - name: etcd runs on DCS members only
{%- endif %}
