nginx-pkg-installed:
  pkg.installed:
    - name: nginx
