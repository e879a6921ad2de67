{#- PostgreSQL from Debian's packages (pg.packages: the node release's major, chosen by the
    compiler) and Patroni from the offline repository's wheelhouse, in a virtualenv, on every
    release: the version pigsalt/data/wheels.lock holds (pg.patroni.version and .requirements,
    emitted by the compiler; `pigsalt repo lock` changes it, never this file), rather than
    Debian's `patroni` (3.0.2 on Debian 12, 4.0.7 on Debian 13): one
    Patroni version across a mixed fleet (its REST API and configuration keys do not change with
    the node's release), and a cluster moved from 12 to 13 keeps the Patroni it was tested with.

    The reason is NOT the dead-primary health check: DOMAIN.md ("Baseline") saw 3.0.2's
    `/primary` answer 200 while the postmaster was dead, and 4.1.5 does the same. Measured on
    the sandbox (2 trials, `kill -9` of pg-test-1's postmaster, polled every ~0.6 s): `/primary`
    and `/readiness` answered 200 for the whole 5.5-8 s until Patroni's next HA loop noticed
    and restarted Postgres (the state the REST API reports is the HA loop's, so the window
    can last up to loop_wait).
    HAProxy must therefore not rely on Patroni alone to take a dead primary out (a later step).
    Patroni 4.1 is chosen because it is maintained upstream, supports `/replica?replication_state=
    streaming` (the orchestration's proof that a replica streams), and ships as wheels
    (psycopg 3 binary) that install without compiling. #}
{%- set repo = pillar['pigsty']['infra']['repo'] %}
{%- set patroni_venv = '/opt/pigsalt/patroni' %}

{%- if pillar['pigsty'].get('pg') %}
{%- set patroni = pillar['pigsty']['pg']['patroni'] %}

include:
  - repo.policy

{#- Debian's postinst creates and starts a cluster `main` unless this is set first; a node
    whose Postgres belongs to Patroni must never have one. #}
pgsql-createcluster-file-managed:
  file.managed:
    - name: /etc/postgresql-common/createcluster.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsql.install): Patroni owns this node's only cluster (/pg/data).
        create_main_cluster = false

pgsql-postgres-pkg-installed:
  pkg.installed:
    - pkgs:
      {%- for name in pillar['pigsty']['pg']['packages'] %}
      - {{ name }}
      {%- endfor %}
      - python3-venv
      # pigsalt.agent.wheels checks the wheelhouse's signature with gpgv (trixie's apt uses
      # sqv and brings no gpgv).
      - gpgv
    - require:
      - file: repo-policy-rc-file-managed
      - file: pgsql-createcluster-file-managed

{#- Patroni in its virtualenv (no pip of its own: the minion's pip installs into it), from the
    repository's wheelhouse only, each file checked against the repository's signed SHA256SUMS
    (gpgv with the APT keyring, then pip --require-hashes: pigsalt.agent.wheels). A state of its
    own, which looks at the installed version's metadata: cmd.run with creates/unless made every
    state run that includes this file load all of Salt's modules (~1.2 s). #}
pgsql-patroni-installed:
  pigsalt_patroni.installed:
    - name: {{ patroni_venv }}
    - version: {{ patroni.version }}
    - requirements:
      {%- for requirement in patroni.requirements %}
      - {{ requirement }}
      {%- endfor %}
    - repo: {{ repo.url }}/pypi
    - keyring: {{ repo.keyring }}
    - require:
      - pkg: pgsql-postgres-pkg-installed

pgsql-patroni-unit-file-managed:
  file.managed:
    - name: /etc/systemd/system/patroni.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (pgsql.install).
        [Unit]
        Description=Patroni: PostgreSQL high availability ({{ pillar['pigsty']['pg']['instance'] }})
        After=network-online.target
        Wants=network-online.target

        [Service]
        Type=simple
        User=postgres
        Group=postgres
        ExecStart={{ patroni_venv }}/bin/patroni /etc/patroni/patroni.yml
        ExecReload=/bin/kill -HUP $MAINPID
        # Stopping Patroni must not kill Postgres under it: Patroni stops it itself.
        KillMode=process
        TimeoutSec=30
        Restart=on-failure

        [Install]
        WantedBy=multi-user.target
    - require:
      - pigsalt_patroni: pgsql-patroni-installed
{%- else %}

pgsql-install-test-nop:
  test.nop:
    - name: pgsql runs on nodes that hold a Postgres instance only
{%- endif %}
