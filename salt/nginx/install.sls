include:
  - repo.policy

nginx-pkg-installed:
  pkg.installed:
    - name: nginx
    - require:
      - file: repo-policy-rc-file-managed
