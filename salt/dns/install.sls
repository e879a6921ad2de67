include:
  - repo.policy

dns-pkg-installed:
  pkg.installed:
    - name: dnsmasq
    - require:
      - file: repo-policy-rc-file-managed
