{#- The local CA, on the first meta node only (pigsty:tls:ca). With ca_method: create its key is
    made here and never leaves this node; with copy, the user's ca.key and ca.crt must already
    be here. The certificate (public) goes to the mine, from where every node's pki writes it. #}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set ca = tls.get('ca') %}
{%- if ca %}

pki-dir-file-directory:
  file.directory:
    - name: {{ tls.dir }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
{%- if ca.method == 'create' %}

pki-ca-key-managed:
  pigsalt_pki.private_key_managed:
    - name: {{ ca.key }}
    - algo: ec
    - keysize: 256
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: pki-dir-file-directory

pki-ca-certificate-managed:
  pigsalt_pki.certificate_managed:
    - name: {{ tls.ca_cert }}
    - signing_private_key: {{ ca.key }}
    - CN: {{ ca.cn | json }}
    - basicConstraints: 'critical, CA:TRUE'
    - keyUsage: 'critical, cRLSign, keyCertSign'
    - subjectKeyIdentifier: hash
    - days_valid: {{ ca.days_valid }}
    - days_remaining: 90
    - mode: '0644'
    - require:
      - pigsalt_pki: pki-ca-key-managed
{%- set ca_state = 'pigsalt_pki' %}
{%- else %}

pki-ca-key-managed:
  file.exists:
    - name: {{ ca.key }}
    - require:
      - file: pki-dir-file-directory

pki-ca-certificate-managed:
  file.exists:
    - name: {{ tls.ca_cert }}
    - require:
      - file: pki-ca-key-managed
{%- set ca_state = 'file' %}
{%- endif %}

{#- To the mine when it changed, and whenever the mine has lost it. #}
pki-ca-mine-send:
  module.run:
    - mine.send:
      - name: {{ tls.mine.ca }}
      - mine_function: file.read
      - path: {{ tls.ca_cert }}
    - onchanges:
      - {{ ca_state }}: pki-ca-certificate-managed

pki-ca-mine-present:
  pigsalt_pki.mine_present:
    - name: {{ tls.mine.ca }}
    - mine_function: file.read
    - path: {{ tls.ca_cert }}
    - require:
      - module: pki-ca-mine-send
{%- else %}

pki-ca-test-nop:
  test.nop:
    - name: the local CA lives on the first meta node only
{%- endif %}
