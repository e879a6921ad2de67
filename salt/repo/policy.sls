{#- Installing or upgrading a package never starts, stops or restarts its service on a pigsalt
    node: Debian's maintainer scripts ask /usr/sbin/policy-rc.d first (invoke-rc.d and
    deb-systemd-invoke both do), and 101 means "not allowed". A service started by its package
    runs with the package's defaults before Salt has written its configuration: etcd founds a
    cluster of its own, an exporter with Restart=on-failure uses up systemd's start limit in a
    second. Salt starts each service once its configuration is in place and restarts it when
    that changes. Every formula's pkg.installed requires this file. #}

repo-policy-rc-file-managed:
  file.managed:
    - name: /usr/sbin/policy-rc.d
    - user: root
    - group: root
    - mode: '0755'
    - contents: |
        #!/bin/sh
        # Managed by Salt (repo.policy): packages do not start, stop or restart services on
        # this node; Salt starts each one once its configuration is written. To let one
        # package manage its service anyway: PIGSALT_PACKAGE_SERVICES=allow apt-get install ...
        if [ "${PIGSALT_PACKAGE_SERVICES:-}" = allow ]; then exit 0; fi
        logger -t pigsalt-policy-rc.d "refused: $*" 2>/dev/null || true
        exit 101
