{#- The offline repository is the node's only APT source. Meta nodes read their local copy
    (nginx, which serves it to the others, is not installed yet when they need it). #}
{%- set node = pillar['pigsty']['node'] %}
{%- set repo = pillar['pigsty']['infra']['repo'] %}
{#- One flat suite per Debian release: apt/<codename>/. #}
{%- set uri = ('file:' ~ repo.dir if node.meta else repo.url) ~ '/apt/' ~ node.os.codename ~ '/' %}

include:
  - repo.install

{#- repo.pigsty must resolve before the DNS server exists. #}
{%- for entry in node.etc_hosts %}

repo-etc-hosts-{{ entry.ip }}-host-present:
  host.present:
    - ip: {{ entry.ip }}
    - names: {{ entry.names | json }}
    - require_in:
      - pigsalt_node: repo-release-copy-fetched
      - cmd: repo-index-cmd-run
{%- endfor %}

repo-sources-file-managed:
  file.managed:
    - name: /etc/apt/sources.list.d/pigsalt.sources
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by Salt (repo.config): the offline repository is this node's only source.
        Types: deb
        URIs: {{ uri }}
        Suites: ./
        Signed-By: {{ repo.keyring }}
    - require:
      - sls: repo.install

repo-sources-list-file-managed:
  file.managed:
    - name: /etc/apt/sources.list
    - user: root
    - group: root
    - mode: '0644'
    - contents: '# Managed by Salt (repo.config): the only source is sources.list.d/pigsalt.sources'

{#- clean removes every file that no required file state manages: only pigsalt.sources stays. #}
repo-sources-dir-file-directory:
  file.directory:
    - name: /etc/apt/sources.list.d
    - clean: True
    - require:
      - file: repo-sources-file-managed

{#- A copy of the repository's InRelease, fetched on every run: it changes when the repository
    does (a rebuild, a package added with pigsalt repo add), and then the package lists are
    fetched again. (file.managed with skip_verify kept its first copy for ever.) #}
repo-release-copy-fetched:
  pigsalt_node.copy_fetched:
    - name: /var/lib/apt/pigsalt.InRelease
    - source: {{ ('file://' ~ repo.dir) if node.meta else repo.url }}/apt/{{ node.os.codename }}/InRelease

repo-index-cmd-run:
  cmd.run:
    - name: apt-get update -qq --error-on=any -o DPkg::Lock::Timeout=120
    - onchanges:
      - sls: repo.install
      - pigsalt_node: repo-release-copy-fetched
      - file: repo-sources-file-managed
      - file: repo-sources-list-file-managed
      - file: repo-sources-dir-file-directory
