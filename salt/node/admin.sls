{#- The admin OS user (node_admin_*): passwordless sudo and the SSH keys of pk_list. #}
{%- set admin = pillar['pigsty']['node']['admin'] %}

{%- if admin.enabled %}

include:
  - repo.policy

node-admin-sudo-pkg-installed:
  pkg.installed:
    - name: sudo
    - require:
      - file: repo-policy-rc-file-managed

node-admin-group-present:
  group.present:
    - name: {{ admin.username }}
    - gid: {{ admin.uid }}

node-admin-user-present:
  user.present:
    - name: {{ admin.username }}
    - uid: {{ admin.uid }}
    - gid: {{ admin.uid }}
    - home: /home/{{ admin.username }}
    - createhome: True
    - shell: /bin/bash
    - require:
      - group: node-admin-group-present

{#- check_cmd validates the candidate file before it replaces the real one: a broken
    sudoers fragment would lock every sudo user out. #}
node-admin-sudoers-file-managed:
  file.managed:
    - name: /etc/sudoers.d/{{ admin.username }}
    - user: root
    - group: root
    - mode: '0440'
    - contents: |
        # Managed by pigsalt (salt://node/admin.sls)
        {{ admin.username }} ALL=(ALL) NOPASSWD: ALL
    - check_cmd: /usr/sbin/visudo -cf
    - require:
      - pkg: node-admin-sudo-pkg-installed
      - user: node-admin-user-present
{%- if admin.pk_list %}

{#- Keys are for SSH logins, which need sshd; its openssh-client also provides the `ssh`
    binary that Salt's ssh module (behind ssh_auth) requires. #}
node-admin-sshd-pkg-installed:
  pkg.installed:
    - name: openssh-server
    - install_recommends: False
    - require:
      - file: repo-policy-rc-file-managed

node-admin-sshd-service-running:
  pigsalt_service.running:
    - name: ssh
    - enable: True
    - require:
      - pkg: node-admin-sshd-pkg-installed

{#- Adds the listed keys; keys put there by hand are left alone. #}
node-admin-ssh-auth-present:
  ssh_auth.present:
    - user: {{ admin.username }}
    - names: {{ admin.pk_list | json }}
    - require:
      - pkg: node-admin-sshd-pkg-installed
      - user: node-admin-user-present
{%- endif %}
{%- else %}

node-admin-disabled-test-show_notification:
  test.show_notification:
    - text: node_admin_enabled is false in the inventory; no admin user is managed.
{%- endif %}
