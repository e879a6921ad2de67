{#- chrony, Debian's package. #}

include:
  - repo.policy

chrony-pkg-installed:
  pkg.installed:
    - name: chrony
    - require:
      - file: repo-policy-rc-file-managed
