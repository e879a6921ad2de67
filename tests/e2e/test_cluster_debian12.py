"""The previous Debian release: pg-deb12 (node-4, node-5 on Debian 12, PostgreSQL 15) gets the
core cluster checks, deployed by the same formulas and master as the Debian 13 clusters."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import pytest

from pigsalt.sandbox.image import SALT_VENV
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import OrchRun, deploy_cluster, run_orch

pytestmark = pytest.mark.e2e

CLUSTER = "pg-deb12"
PILLAR = json.dumps({"pg_cluster": CLUSTER})
MEMBERS = {"node-4": "10.10.10.14", "node-5": "10.10.10.15"}
USER = {"user": "legacy", "password": "Legacy.Pass.12", "dbname": "legacy"}


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> OrchRun:
    return deploy_cluster(sandbox_session, CLUSTER)


def _query(host: str, port: int, sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(host=host, port=port, connect_timeout=10, autocommit=True, **USER) as conn:
        cursor = conn.execute(sql, args or None)
        return cursor.fetchall() if cursor.description else []


def test_postgres_15_on_debian_12_with_a_leader_and_a_streaming_replica(sandbox: Sandbox, deployed: OrchRun) -> None:
    status, body = sandbox.patroni(MEMBERS["node-4"], "/cluster")
    assert status == 200, body[:300]
    members = {m["name"]: (m["role"], m["state"]) for m in json.loads(body)["members"]}
    assert members == {"pg-deb12-1": ("leader", "running"), "pg-deb12-2": ("replica", "streaming")}, members
    for node in MEMBERS:
        release = sandbox.run(node, "sh", "-c", ". /etc/os-release && echo $VERSION_ID").stdout.strip()
        assert release == "12", (node, release)
    assert _query(MEMBERS["node-5"], 5433, "SELECT current_setting('server_version_num')::int / 10000") == [(15,)]


def test_writes_through_5433_are_read_through_5434_on_the_replica(sandbox: Sandbox, deployed: OrchRun) -> None:
    _query(MEMBERS["node-4"], 5433, "CREATE TABLE IF NOT EXISTS e2e_deb12 (id text PRIMARY KEY)")
    marker = uuid.uuid4().hex
    assert _query(
        MEMBERS["node-5"], 5433, "INSERT INTO e2e_deb12 VALUES (%s) RETURNING pg_is_in_recovery()", marker
    ) == [(False,)]
    for ip in MEMBERS.values():
        for _ in range(60):
            rows = _query(ip, 5434, "SELECT pg_is_in_recovery(), count(*) FROM e2e_deb12 WHERE id = %s", marker)
            if rows == [(True, 1)]:
                break
            time.sleep(0.5)
        assert rows == [(True, 1)], f"5434 of {ip}: {rows}"


def test_the_business_user_logs_in_with_scram_through_pgbouncer(sandbox: Sandbox, deployed: OrchRun) -> None:
    for ip in MEMBERS.values():
        with psycopg.connect(host=ip, port=6432, connect_timeout=10, require_auth="scram-sha-256", **USER) as conn:
            assert conn.execute("SELECT current_user").fetchall() == [("legacy",)]


def test_the_exporters_answer_pgbouncer_s_through_pigsalt_s_own(sandbox: Sandbox, deployed: OrchRun) -> None:
    """Debian 12 runs pigsalt's Pgbouncer exporter (bookworm's dies on Pgbouncer 1.18), with the
    metric names of Debian 13's Go exporter (test_cluster.py checks that one)."""
    for ip in MEMBERS.values():
        assert "pg_up 1" in sandbox.http(f"http://{ip}:9630/metrics")[1], ip
        pgbouncer = sandbox.http(f"http://{ip}:9631/metrics")[1]
        assert "pgbouncer_up 1" in pgbouncer, ip
        assert "pgbouncer_pools_client_active_connections" in pgbouncer, ip
    assert sandbox.run("node-4", "systemctl", "is-active", "pigsalt-pgbouncer-exporter").stdout.strip() == "active"


def test_second_run_changes_nothing(sandbox: Sandbox, deployed: OrchRun) -> None:
    again = run_orch(sandbox, "pigsty.cluster", pillar=PILLAR)
    assert again.ok, "\n".join(again.failed)
    assert again.changed == [], f"pigsty.cluster changed on its second run: {again.changed}"


def _connects(sandbox: Sandbox, node: str, ip: str, port: int) -> bool:
    """From inside ``node``: Postgres' SSLRequest gets its one-byte answer (Pgbouncer and Postgres
    both answer it). HAProxy accepts a TCP connection its ACL rejects, then closes it: no answer."""
    script = (
        "import socket, sys\n"
        f"s = socket.create_connection(({ip!r}, {port}), 5)\n"
        "s.sendall(bytes.fromhex('0000000804d2162f'))\n"
        "sys.exit(0 if s.recv(1) in (b'S', b'N') else 1)\n"
    )
    return sandbox.run(node, f"{SALT_VENV}/bin/python", "-c", script, timeout=30).returncode == 0


def test_haproxy_admits_only_the_sources_the_hba_rules_name(sandbox: Sandbox, deployed: OrchRun) -> None:
    """pg-deb12's Pgbouncer rules name the sandbox's host and the members (HAProxy's own address,
    which Pgbouncer sees) besides meta and localhost: its 5433 refuses node-1 (in the
    intranet, which the firewall lets through), its 5436 (Postgres' rules: the intranet) does not."""
    assert _query(MEMBERS["node-5"], 5433, "SELECT 1") == [(1,)]  # from the host
    assert not _connects(sandbox, "node-1", MEMBERS["node-5"], 5433)
    assert _connects(sandbox, "node-1", MEMBERS["node-5"], 5436)
    config = sandbox.run("node-5", "cat", "/etc/haproxy/haproxy.cfg").stdout
    sources = "10.10.10.1/32 10.10.10.10/32 10.10.10.14/31 127.0.0.1/32 ::1/128"
    assert f"tcp-request connection reject unless {{ src {sources} }}" in config
