{#- chrony, Debian's package. #}

chrony-pkg-installed:
  pkg.installed:
    - name: chrony
