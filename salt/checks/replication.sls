{#- The fact that says a cluster is whole: the leader streams to every other member. Applied
    by pigsty.cluster to every member after the replicas' own checks (each check runs only
    where Patroni says this member leads: `onlyif: patroni.is_leader`), because a replica's
    `/replica?replication_state=streaming` can answer 200 while its WAL receiver is still
    failing to start (e.g. before the leader has created its replication slot); only the
    leader's pg_stat_replication proves it. Every state waits (with a timeout), changes
    nothing, and names the member it waits for. #}
{%- set pg = pillar['pigsty'].get('pg') %}
{%- set others = pg['members'] | rejectattr('name', 'equalto', pg['instance']) | list if pg else [] %}
{%- if others %}
{%- for member in others %}

checks-replication-{{ member['name'] }}-command:
  pigsalt_wait.command:
    - name: {{ member['name'] }} streams from {{ pg['instance'] }}
    - cmd:
      - runuser
      - -u
      - {{ pg['dbsu'] }}
      - --
      - psql
      - -XAtq
      - -c
      - >-
        DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_stat_replication
        WHERE application_name = '{{ member['name'] }}' AND state = 'streaming')
        THEN RAISE EXCEPTION '{{ member['name'] }} does not stream from {{ pg['instance'] }}'; END IF; END$$
    - timeout: 120
    - onlyif:
      - fun: patroni.is_leader
{%- endfor %}
{%- else %}

checks-replication-test-nop:
  test.nop:
    - name: replication is checked on members of clusters with more than one instance only
{%- endif %}
