{#- This node's private key, made here and never sent anywhere (root:ssl-cert 0640: Postgres,
    Patroni, Pgbouncer and etcd read it through the group), and its public key in the mine, where
    the CA node (pki.sign) finds it. #}
{%- set tls = pillar['pigsty']['tls'] %}

include:
  - repo.policy

pki-ssl-cert-pkg-installed:
  pkg.installed:
    - name: ssl-cert
    - require:
      - file: repo-policy-rc-file-managed

pki-node-dir-file-directory:
  file.directory:
    - name: {{ tls.dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True

pki-node-key-managed:
  pigsalt_pki.private_key_managed:
    - name: {{ tls.key }}
    - algo: ec
    - keysize: 256
    - user: root
    - group: {{ tls.key_group }}
    - mode: '0640'
    - require:
      - pkg: pki-ssl-cert-pkg-installed
      - file: pki-node-dir-file-directory

pki-node-pubkey-mine-send:
  module.run:
    - mine.send:
      - name: {{ tls.mine.pubkey }}
      - mine_function: x509.get_public_key
      - key: {{ tls.key }}
    - onchanges:
      - pigsalt_pki: pki-node-key-managed

pki-node-pubkey-mine-present:
  pigsalt_pki.mine_present:
    - name: {{ tls.mine.pubkey }}
    - mine_function: x509.get_public_key
    - key: {{ tls.key }}
    - require:
      - module: pki-node-pubkey-mine-send
