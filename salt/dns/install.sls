dns-pkg-installed:
  pkg.installed:
    - name: dnsmasq
