{#- chrony.conf: meta nodes serve time to the other nodes (and keep serving without any
    upstream: `local stratum 10`); every other node syncs from node_ntp_servers. #}
{%- set node = pillar['pigsty']['node'] %}
{#- pigsalt's grain (_grains/pigsalt.py), from Salt's `virtual`. #}
{%- set in_container = grains.get('pigsalt_container', False) %}

include:
  - chrony.install

chrony-config-file-managed:
  file.managed:
    - name: /etc/chrony/chrony.conf
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by pigsalt (salt://chrony/config.sls): local edits are overwritten.
        {%- for source in node.ntp_sources %}
        {{ source }}
        {%- endfor %}
        {%- if node.meta %}

        # NTP server of the deployment: answer every node, and keep answering (stratum 10,
        # the local clock) when no upstream is reachable, as in an offline install.
        {%- for client in pillar['pigsty']['infra']['ntp']['clients'] %}
        allow {{ client }}
        {%- endfor %}
        local stratum 10
        {%- endif %}

        keyfile /etc/chrony/chrony.keys
        driftfile /var/lib/chrony/chrony.drift
        ntsdumpdir /var/lib/chrony
        logdir /var/log/chrony
        maxupdateskew 100.0
        rtcsync
        makestep 1 3
        leapsectz right/UTC
    - require:
      - pkg: chrony-pkg-installed

{#- In a container the clock belongs to the host: CAP_SYS_TIME is dropped, so Debian's unit
    never starts (ConditionCapability=CAP_SYS_TIME). This drop-in clears the condition and runs
    chronyd with -x (never touch the clock): it still measures its sources, tracks, and serves. #}
chrony-container-dropin-file-{{ 'managed' if in_container else 'absent' }}:
{%- if in_container %}
  file.managed:
    - name: /etc/systemd/system/chrony.service.d/pigsalt-container.conf
    - makedirs: True
    - user: root
    - group: root
    - mode: '0644'
    - contents: |
        # Managed by pigsalt (salt://chrony/config.sls): this node is a container ({{ grains.get('virtual') }}).
        [Unit]
        # An empty assignment resets every Condition*= of the unit.
        ConditionCapability=

        [Service]
        ExecStart=
        ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x
{%- else %}
  file.absent:
    - name: /etc/systemd/system/chrony.service.d/pigsalt-container.conf
{%- endif %}
