{#- The reverse of nginx: stop it, remove pigsty's files, remove the package. Nodes then lose
    the repository served from this meta node: apply repo elsewhere first. #}

nginx-service-dead:
  service.dead:
    - name: nginx
    - enable: False

nginx-www-file-absent:
  file.absent:
    - name: /var/www/pigsty
    - require:
      - service: nginx-service-dead

nginx-pigsty-conf-file-absent:
  file.absent:
    - name: /etc/nginx/conf.d/pigsty.conf
    - require:
      - service: nginx-service-dead

nginx-pkg-removed:
  pkg.removed:
    - pkgs:
      - nginx
      - nginx-common
    - require:
      - file: nginx-pigsty-conf-file-absent
