{#- The reverse of dns: stop dnsmasq, remove pigsty's files, remove the package. #}

dns-service-dead:
  service.dead:
    - name: dnsmasq
    - enable: False

dns-records-file-absent:
  file.absent:
    - name: /etc/dnsmasq.pigsty.hosts
    - require:
      - service: dns-service-dead

dns-conf-file-absent:
  file.absent:
    - name: /etc/dnsmasq.d/pigsty.conf
    - require:
      - service: dns-service-dead

dns-pkg-removed:
  pkg.removed:
    - name: dnsmasq
    - require:
      - file: dns-conf-file-absent
