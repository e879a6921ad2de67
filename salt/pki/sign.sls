{#- On the CA node: a certificate for every node of the inventory whose public key is in the mine
    (published by that node's own minion: pki.key), saying exactly what the inventory says of the
    node (pigsty:tls:ca:issue; a database node gets a client certificate for the same key too)
    and renewed when fewer than days_remaining days are left; then
    the issued certificates go to the mine, from where each node's pki installs its own. A node
    without a published key yet gets nothing (its pki step says so). #}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set ca = tls.get('ca') %}
{%- if ca %}
{%- set keys = salt['mine.get']('*', tls.mine.pubkey) %}

include:
  - pki.ca

pki-issued-dir-file-directory:
  file.directory:
    - name: {{ ca.issued_dir }}
    - user: root
    - group: root
    - mode: '0755'
    - require:
      - file: pki-dir-file-directory
{#- pigsalt_pki.certificate_managed is x509.certificate_managed with the same arguments, which
    tells a certificate in place without x509's state.single file.managed (~100 ms a certificate
    in every converged run). #}
{%- for cert in ca.issue if keys.get(cert.key_of) %}

pki-issued-{{ cert.node }}-certificate-managed:
  pigsalt_pki.certificate_managed:
    - name: {{ ca.issued_dir }}/{{ cert.node }}.crt
    - signing_private_key: {{ ca.key }}
    - signing_cert: {{ tls.ca_cert }}
    - public_key: {{ keys[cert.key_of] | json }}
    - subject: {{ cert.subject | json }}
    - subjectAltName: {{ cert.subjectAltName | json }}
    - basicConstraints: {{ cert.basicConstraints | json }}
    - keyUsage: {{ cert.keyUsage | json }}
    - extendedKeyUsage: {{ cert.extendedKeyUsage | json }}
    - subjectKeyIdentifier: {{ cert.subjectKeyIdentifier | json }}
    - authorityKeyIdentifier: {{ cert.authorityKeyIdentifier | json }}
    - days_valid: {{ cert.days_valid }}
    - days_remaining: {{ tls.days_remaining }}
    - mode: '0644'
    - require:
      - file: pki-issued-dir-file-directory
      - {{ 'pigsalt_pki' if ca.method == 'create' else 'file' }}: pki-ca-certificate-managed
    - require_in:
      - module: pki-issued-mine-send
{%- endfor %}

pki-issued-mine-send:
  module.run:
    - mine.send:
      - name: {{ tls.mine.issued }}
      - mine_function: pigsalt.issued_certs
      - directory: {{ ca.issued_dir }}
    - onchanges:
      - file: pki-issued-dir-file-directory
{%- for cert in ca.issue if keys.get(cert.key_of) %}
      - pigsalt_pki: pki-issued-{{ cert.node }}-certificate-managed
{%- endfor %}

pki-issued-mine-present:
  pigsalt_pki.mine_present:
    - name: {{ tls.mine.issued }}
    - mine_function: pigsalt.issued_certs
    - directory: {{ ca.issued_dir }}
    - require:
      - module: pki-issued-mine-send
{%- else %}

pki-sign-test-nop:
  test.nop:
    - name: the local CA lives on the first meta node only
{%- endif %}
