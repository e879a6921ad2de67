{#- The key that signs the offline repository. A meta node copies it from its own copy of the
    repository; every other node must already hold it (the bootstrap puts it there), since
    fetching it over plain HTTP from the repository it is meant to verify would prove nothing. #}
{%- set node = pillar['pigsty']['node'] %}
{%- set repo = pillar['pigsty']['infra']['repo'] %}

include:
  - node.os

{%- if node.meta %}

repo-keyring-file-managed:
  file.managed:
    - name: {{ repo.keyring }}
    - source: {{ repo.dir }}/apt/pigsalt-archive-keyring.gpg
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: node.os
{%- else %}

repo-keyring-file-exists:
  file.exists:
    - name: {{ repo.keyring }}
    - require:
      - sls: node.os
{%- endif %}
