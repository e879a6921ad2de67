{#- The fact that says a cluster is whole: the leader streams to every other member. Applied
    by pigsty.cluster to every member after the replicas' own checks (each check runs only
    where Patroni says this member leads: `leader_only`), because a replica's
    `/replica?replication_state=streaming` can answer 200 while its WAL receiver is still
    failing to start (e.g. before the leader has created its replication slot); only the
    leader's pg_stat_replication proves it (pigsalt.agent.replication asks it; the commands:
    pigsty:pg:checks:replication). Every state waits (with a timeout), changes nothing, and
    names the member it waits for. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- if pg and pg.checks.replication %}
{%- for check in pg.checks.replication %}

checks-replication-{{ check.member }}-command:
  pigsalt_wait.command:
    - name: {{ check.label }}
    - cmd: {{ check.cmd | json }}
    - timeout: 120
    - leader_only: True
{%- endfor %}
{%- else %}

checks-replication-test-nop:
  test.nop:
    - name: replication is checked on members of clusters with more than one instance only
{%- endif %}
