{#- This node's certificate, issued by the local CA (pki.sign on the first meta node) and taken
    from the mine, and the CA certificate clients verify with. The certificate must match this
    node's key (pki.key): a mismatch means pki.sign has not run since the key changed. #}
{%- set tls = pillar['pigsty']['tls'] %}
{%- set node = pillar['pigsty']['node'] %}
{%- set ca_found = salt['mine.get'](tls.ca_server, tls.mine.ca) %}
{%- set issued = salt['mine.get'](tls.ca_server, tls.mine.issued) %}
{%- set ca_pem = ca_found.get(tls.ca_server) if ca_found is mapping else None %}
{%- set certs = issued.get(tls.ca_server) if issued is mapping else None %}
{%- set cert_pem = certs.get(node.name) if certs is mapping else None %}
{%- set client_pem = certs.get(node.name ~ tls.client_suffix) if certs is mapping and tls.client_cert else None %}

include:
  - pki.key
{%- if not ca_pem or not cert_pem or (tls.client_cert and not client_pem) %}

pki-node-certificate-test-fail:
  test.fail_without_changes:
    - name: {{ ("the CA on " ~ tls.ca_server ~ " has not published " ~ ("its certificate" if not ca_pem else "a certificate for " ~ (node.name if not cert_pem else node.name ~ tls.client_suffix)) ~ " in the mine: run pki.key here, then pki.sign on " ~ tls.ca_server ~ " (pigsty.node does both)") | json }}
{%- else %}

pki-ca-certificate-file-managed:
  file.managed:
    - name: {{ tls.ca_cert }}
    - contents: {{ ca_pem | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: pki-node-dir-file-directory

pki-node-certificate-file-managed:
  file.managed:
    - name: {{ tls.cert }}
    - contents: {{ cert_pem | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pigsalt_pki: pki-node-key-managed
      - file: pki-ca-certificate-file-managed

pki-node-certificate-matches-key:
  pigsalt_pki.certificate_matches_key:
    - name: {{ tls.cert }}
    - key: {{ tls.key }}
    - hint: {{ ("run pki.sign on " ~ tls.ca_server) | json }}
    - require:
      - file: pki-node-certificate-file-managed
{%- if tls.client_cert %}

{#- The client certificate (CN: the node's name) pgBackRest presents to the repository's server. #}
pki-client-certificate-file-managed:
  file.managed:
    - name: {{ tls.client_cert }}
    - contents: {{ client_pem | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pigsalt_pki: pki-node-key-managed
      - file: pki-ca-certificate-file-managed

pki-client-certificate-matches-key:
  pigsalt_pki.certificate_matches_key:
    - name: {{ tls.client_cert }}
    - key: {{ tls.key }}
    - hint: {{ ("run pki.sign on " ~ tls.ca_server) | json }}
    - require:
      - file: pki-client-certificate-file-managed
{%- endif %}
{%- endif %}
