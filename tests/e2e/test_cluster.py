"""pigsty.cluster on the sandbox: pg-test bootstrapped by Patroni, checked from the host and the nodes."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from pigsalt.cli import main
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import OrchRun, deploy_cluster, run_orch, settled

pytestmark = pytest.mark.e2e

CLUSTER = "pg-test"
PILLAR = json.dumps({"pg_cluster": CLUSTER})
MEMBERS = {"node-1": "10.10.10.11", "node-2": "10.10.10.12", "node-3": "10.10.10.13"}
VIP = "10.10.10.3"
# The business user of the default inventory (pg_users of pg-test).
USER = {"user": "test", "password": "test", "dbname": "test"}
T = TypeVar("T")


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> OrchRun:
    return deploy_cluster(sandbox_session, CLUSTER)


def test_the_single_node_meta_cluster_deploys_too(sandbox: Sandbox, deployed: OrchRun) -> None:
    """pg-meta (one member, on meta): the replica steps are skipped, every other step runs (the
    run that deployed it in this session: deploy_cluster asserts that it succeeded)."""
    run = deploy_cluster(sandbox, "pg-meta")
    assert run.ok, "\n".join(run.failed)
    status, body = sandbox.patroni("10.10.10.10", "/cluster")
    assert status == 200
    assert [(m["name"], m["role"]) for m in json.loads(body)["members"]] == [("pg-meta-1", "leader")]
    assert _query(
        "10.10.10.10", 5433, "SELECT current_database()", user="dbuser_meta", password="DBUser.Meta", dbname="meta"
    ) == [("meta",)]


# Units whose Debian package would start them on install, before Salt configured them.
PACKAGE_UNITS = {
    "meta": ("nginx", "dnsmasq", "etcd", "chrony", "prometheus-node-exporter"),
    **{
        node: (
            "chrony",
            "prometheus-node-exporter",
            "pgbouncer",
            "haproxy",
            "prometheus-postgres-exporter",
            "prometheus-pgbouncer-exporter",
        )
        for node in MEMBERS
    },
}


def _journal(sandbox: Sandbox, node: str, *selector: str) -> list[dict[str, str]]:
    found = sandbox.run(node, "journalctl", "--no-pager", "--output", "json", *selector, check=True)
    return [json.loads(line) for line in found.stdout.splitlines() if line.strip()]


def test_no_package_starts_its_service_before_salt_configured_it(sandbox: Sandbox, deployed: OrchRun) -> None:
    """dpkg asked to start each unit at install and was refused (repo.policy); the unit's first
    journal line comes after that refusal, i.e. from Salt's start, after its configuration."""
    for node, units in PACKAGE_UNITS.items():
        refusals = _journal(sandbox, node, "--identifier", "pigsalt-policy-rc.d")
        for unit in units:
            mentions = re.compile(rf"\b{unit}(\.service)? ")
            refused = [int(e["__REALTIME_TIMESTAMP"]) for e in refusals if mentions.search(e["MESSAGE"])]
            assert refused, f"{node}: no start of {unit} was refused at install"
            lines = _journal(sandbox, node, "--unit", unit)
            assert lines, f"{node}: {unit} never started"
            assert int(lines[0]["__REALTIME_TIMESTAMP"]) > min(refused), f"{node}: {unit} ran before its install ended"
            assert not [e for e in lines if "repeated too quickly" in str(e.get("MESSAGE", ""))], f"{node}: {unit}"
            active = sandbox.run(node, "systemctl", "is-active", unit).stdout.strip()
            assert active == "active", f"{node}: {unit} is {active}"


def test_patroni_reports_a_leader_and_two_streaming_replicas(sandbox: Sandbox, deployed: OrchRun) -> None:
    status, body = sandbox.patroni(MEMBERS["node-1"], "/cluster")
    assert status == 200
    roles = {m["name"]: m["role"] for m in json.loads(body)["members"]}
    assert roles == {"pg-test-1": "leader", "pg-test-2": "replica", "pg-test-3": "replica"}, roles
    for node in ("node-2", "node-3"):
        status, body = sandbox.patroni(MEMBERS[node], "/replica?replication_state=streaming")
        assert status == 200, (node, body[:300])


def test_leader_streams_to_both_replicas(sandbox: Sandbox, deployed: OrchRun) -> None:
    query = "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1"
    found = sandbox.run("node-1", "runuser", "-u", "postgres", "--", "psql", "-Atc", query)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["pg-test-2", "pg-test-3"], found.stdout


def test_no_debian_main_cluster(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node in MEMBERS:
        clusters = sandbox.run(node, "pg_lsclusters", "--no-header")
        assert clusters.returncode == 0, (node, clusters.stderr)
        assert clusters.stdout.strip() == "", (node, clusters.stdout)


def test_unsafe_endpoints_need_authentication(sandbox: Sandbox, deployed: OrchRun) -> None:
    status, _ = sandbox.patroni(MEMBERS["node-1"], "/restart", method="POST")
    assert status == 401
    status, _ = sandbox.patroni(MEMBERS["node-1"], "/restart", method="POST", auth=("postgres", "wrong"))
    assert status == 401


def test_patroni_serves_its_api_over_tls_only(sandbox: Sandbox, deployed: OrchRun) -> None:
    """HTTPS with a certificate of the local CA for the member's IP; nothing in clear (asked
    from meta, which the node firewall lets reach 8008)."""
    status, body = sandbox.patroni(MEMBERS["node-2"], "/patroni")
    assert status == 200 and json.loads(body)["state"] == "running", body[:300]
    with pytest.raises(ConnectionError):
        sandbox.http(f"http://{MEMBERS['node-2']}:8008/patroni")


def test_patroni_config_is_private(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node in MEMBERS:
        mode = sandbox.run(node, "stat", "-c", "%a %U", "/etc/patroni/patroni.yml").stdout.strip()
        assert mode == "600 postgres", (node, mode)


def _connect(host: str, port: int, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection from the host (10.10.10.1), as an application outside the cluster makes it."""
    params = {"connect_timeout": 10, **USER, **kwargs}
    return psycopg.connect(host=host, port=port, autocommit=True, **params)


def _query(host: str, port: int, sql: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    with _connect(host, port, **kwargs) as conn:
        cursor = conn.execute(sql, args or None)
        return cursor.fetchall() if cursor.description is not None else []


def _eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 30) -> T:
    """``probe()`` until ``accept`` holds (replication, health checks); the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_a_row_written_through_5433_of_every_member_is_read_through_5434_of_every_member(
    sandbox: Sandbox, deployed: OrchRun
) -> None:
    _query(MEMBERS["node-1"], 5433, "CREATE TABLE IF NOT EXISTS e2e_rows (id text PRIMARY KEY, via text)")
    written = {}
    for node, ip in MEMBERS.items():
        marker = f"{node}-{uuid.uuid4().hex[:8]}"
        rows = _query(ip, 5433, "INSERT INTO e2e_rows VALUES (%s, %s) RETURNING pg_is_in_recovery()", marker, node)
        assert rows == [(False,)], f"5433 of {node} did not reach the primary: {rows}"
        written[marker] = node
    for node, ip in MEMBERS.items():
        for marker in written:
            seen = _eventually(
                lambda ip=ip, marker=marker: _query(ip, 5434, "SELECT via FROM e2e_rows WHERE id = %s", marker),
                lambda rows: bool(rows),
            )
            assert seen == [(written[marker],)], f"row {marker} not read back through 5434 of {node}"


def test_5434_reads_on_replicas(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node, ip in MEMBERS.items():
        assert _query(ip, 5434, "SELECT pg_is_in_recovery()") == [(True,)], f"5434 of {node} reached the primary"


def test_5436_reaches_the_primarys_postgres_directly(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node, ip in MEMBERS.items():
        rows = _query(ip, 5436, "SELECT host(inet_server_addr()), inet_server_port(), pg_is_in_recovery()")
        assert rows == [(MEMBERS["node-1"], 5432, False)], f"5436 of {node}: {rows}"


def test_5438_reaches_the_offline_instance(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node, ip in MEMBERS.items():
        rows = _query(ip, 5438, "SELECT host(inet_server_addr()), inet_server_port(), pg_is_in_recovery()")
        assert rows == [(MEMBERS["node-3"], 5432, True)], f"5438 of {node}: {rows}"


def test_the_vip_sits_on_the_primary_and_answers(sandbox: Sandbox, deployed: OrchRun) -> None:
    holders = [n for n in MEMBERS if VIP in sandbox.run(n, "ip", "-4", "-o", "addr", "show").stdout]
    assert holders == ["node-1"], f"VIP {VIP} held by {holders}"
    for port in (5432, 5433):
        assert _query(VIP, port, "SELECT pg_is_in_recovery()") == [(False,)], f"VIP:{port}"


def test_the_vip_interface_is_found_on_the_node_and_a_missing_one_names_those_it_has(
    sandbox: Sandbox, deployed: OrchRun
) -> None:
    """The default inventory sets no vip_interface: the keeper runs on the interface that
    carries the member's address (host0 here), and Pigsty's default eth0 is refused by name."""
    unit = sandbox.run("node-1", "systemctl", "cat", "pigsalt-vip.service").stdout
    assert f"--interface-of {MEMBERS['node-1']} " in unit, unit
    on_host0 = sandbox.run("node-1", "ip", "-4", "-o", "addr", "show", "dev", "host0").stdout
    assert f"inet {VIP}/" in on_host0, on_host0
    done = sandbox.salt("--out=txt", "node-1", "pigsalt.vip_interface", MEMBERS["node-1"], "wanted=eth0")
    assert "interface 'eth0' does not exist on this node (it has: host0, lo)" in done.stdout + done.stderr, done


def test_replicas_stream_with_lag_near_zero(sandbox: Sandbox, deployed: OrchRun) -> None:
    sql = (
        "SELECT application_name || ' ' || pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint"
        " FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1"
    )

    def lags() -> dict[str, int]:
        out = sandbox.run("node-1", "runuser", "-u", "postgres", "--", "psql", "-Atc", sql).stdout.split("\n")
        return {line.split()[0]: int(line.split()[1]) for line in out if line.strip()}

    found = _eventually(lags, lambda found: len(found) == 2 and max(found.values()) < 1024 * 1024)
    assert sorted(found) == ["pg-test-2", "pg-test-3"], found
    assert max(found.values()) < 1024 * 1024, f"replay lag in bytes: {found}"


def test_the_business_user_logs_in_with_scram_through_pgbouncer(sandbox: Sandbox, deployed: OrchRun) -> None:
    for ip in MEMBERS.values():
        # require_auth: libpq refuses any other method (md5, password, trust) the server asks for.
        # inet_client_addr() is NULL on a socket: Pgbouncer reaches Postgres on the local socket.
        rows = _query(ip, 6432, "SELECT current_user, inet_client_addr()", require_auth="scram-sha-256")
        assert rows == [("test", None)]
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            _connect(ip, 6432, password="not-the-password")


def test_the_haproxy_admin_page_needs_its_password_and_metrics_are_served(sandbox: Sandbox, deployed: OrchRun) -> None:
    password = sandbox.secrets()["haproxy_admin_password"]
    for ip in MEMBERS.values():  # from meta: the node firewall opens 9101 to the meta nodes
        assert sandbox.http(f"http://{ip}:9101/")[0] == 401
        status, page = sandbox.http(f"http://{ip}:9101/;csv", auth=("admin", password))
        assert status == 200 and "pg-test-primary" in page
        status, metrics = sandbox.http(f"http://{ip}:9101/metrics")
        assert status == 200 and "haproxy_backend_active_servers" in metrics


# Run in a node by its Salt Python: the servers of pg-test's primary and replica services as
# HAProxy's admin socket reports them ([status, check status]), polled every 50 ms from just
# before `systemctl ACTION haproxy` until 5 s after it returns (one `inter`, 3 s, and more).
RELOAD_SCRIPT = """
import json, socket, subprocess, sys, time
def servers():
    with socket.socket(socket.AF_UNIX) as admin:
        admin.connect("/run/haproxy/admin.sock")
        admin.sendall(b"show stat\\n")
        text = b"".join(iter(lambda: admin.recv(65536), b"")).decode()
    lines = text.splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
    return {f"{r['pxname']}/{r['svname']}": [r["status"], r["check_status"]] for r in rows
            if r["pxname"] in ("pg-test-primary", "pg-test-replica") and r["svname"] not in ("FRONTEND", "BACKEND")}
seen = [servers()]
subprocess.run(["systemctl", sys.argv[1], "haproxy"], check=True)
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        seen.append(servers())
    except OSError:
        pass
    time.sleep(0.05)
print(json.dumps(seen))
"""


@pytest.mark.parametrize("action", ["reload", "restart"])
def test_a_new_haproxy_worker_starts_each_server_as_its_check_answers(
    sandbox: Sandbox, deployed: OrchRun, action: str
) -> None:
    """Before a start or a reload each server's check runs once and HAProxy loads the results
    (server-state-file): without it every server is UP until its first check, and for that
    moment 5433 hands a write to a replica. HAProxy's own checks go on from that state."""
    members = json.loads(sandbox.patroni(MEMBERS["node-1"], "/cluster")[1])["members"]
    leader = next(m["name"] for m in members if m["role"] == "leader")
    for node in MEMBERS:
        done = sandbox.run(node, "/opt/pigsalt/salt/bin/python", "-c", RELOAD_SCRIPT, action, check=True)
        samples = json.loads(done.stdout)
        seen = [{k for k, (status, _) in servers.items() if status.startswith("UP")} for servers in samples]
        assert len(seen) > 10, (node, samples)
        assert {k for k in seen[0] if k.startswith("pg-test-primary/")} == {f"pg-test-primary/{leader}"}
        changed = [up for up in seen[1:] if up != seen[0]]
        assert not changed, f"{node}: UP before systemctl {action} haproxy: {sorted(seen[0])}; after: {changed[:3]}"
        # HAProxy's own checks ran after the loaded state (a check status "unknown" stalls them).
        unchecked = {k: check for k, (_, check) in samples[-1].items() if not check.lstrip("* ").startswith("L")}
        assert not unchecked, f"{node}: no check completed 5 s after systemctl {action} haproxy: {unchecked}"


def test_debian_13_runs_debians_go_pgbouncer_exporter(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node, ip in MEMBERS.items():
        active = sandbox.run(node, "systemctl", "is-active", "prometheus-pgbouncer-exporter").stdout.strip()
        assert active == "active", node
        metrics = sandbox.http(f"http://{ip}:9631/metrics")[1]
        assert "pgbouncer_up 1" in metrics and "pgbouncer_pools_client_active_connections" in metrics, node
        assert "pg_up 1" in sandbox.http(f"http://{ip}:9630/metrics")[1], node


def test_an_address_the_hba_does_not_allow_is_refused(sandbox: Sandbox, deployed: OrchRun) -> None:
    # The admin user may connect from meta and the members only; the host (10.10.10.1) is neither.
    admin = sandbox.secrets()["pg_admin_password"]
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba.conf entry for host \"10.10.10.1\""):
        _connect(MEMBERS["node-1"], 5432, user="dbuser_dba", password=admin, dbname="postgres")


def test_the_monitor_user_reads_statistics_but_cannot_write(sandbox: Sandbox, deployed: OrchRun) -> None:
    env = {"PGPASSWORD": sandbox.secrets()["pg_monitor_password"]}
    psql = ["psql", "-h", "127.0.0.1", "-U", "dbuser_monitor", "-d", "test", "-Atc"]
    read = sandbox.run("node-1", *psql, "SELECT count(*) > 0 FROM pg_stat_activity", env=env)
    assert (read.returncode, read.stdout.strip()) == (0, "t"), read.stderr
    write = sandbox.run("node-1", *psql, "INSERT INTO e2e_rows VALUES ('monitor', 'monitor')", env=env)
    assert write.returncode != 0 and "permission denied" in write.stderr, (write.stdout, write.stderr)


def test_default_privileges_let_business_users_use_what_the_dbsu_creates(sandbox: Sandbox, deployed: OrchRun) -> None:
    # A table the dbsu creates (a DBA's migration): `test` owns neither it nor its schema; only
    # the default privileges (dbrole_readwrite: INSERT; dbrole_readonly: SELECT) let it in.
    psql = ["runuser", "-u", "postgres", "--", "psql", "-d", "test", "-v", "ON_ERROR_STOP=1"]
    done = sandbox.run("node-1", *psql, "-c", "CREATE TABLE e2e_defacl (id int)")
    assert done.returncode == 0, done.stderr
    assert _query(MEMBERS["node-1"], 5433, "INSERT INTO e2e_defacl VALUES (1) RETURNING id") == [(1,)]


def test_no_password_in_job_output_logs_or_world_readable_files(sandbox: Sandbox, deployed: OrchRun) -> None:
    secrets = sorted(v for k, v in sandbox.all_secrets().items() if not k.startswith("infra."))
    assert all(len(s) >= 12 for s in secrets), "generated passwords are long random strings"
    leaked = [k for k, v in sandbox.all_secrets().items() if v in deployed.raw]
    assert leaked == [], f"in pigsty.cluster's output: {leaked}"
    pattern = "|".join(re.escape(s) for s in secrets)
    for node in ("meta", *MEMBERS):
        # Salt's logs and the master's job cache (each job's returns).
        logs = sandbox.run(
            node,
            "sh",
            "-c",
            'grep -rlE -e "$P" /var/log/salt /var/cache/salt/master/jobs 2>/dev/null',
            env={"P": pattern},
        )
        assert logs.stdout.strip() == "", f"{node}: passwords in {logs.stdout.split()}"
        # Every file anyone may read, outside /proc, /sys, /dev and the offline repository.
        world = sandbox.run(
            node,
            "sh",
            "-c",
            "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /var/lib/pigsalt/repo \\) -prune"
            ' -o -type f -perm -o+r -size -4M -print0 | xargs -0 -r grep -lE -e "$P" 2>/dev/null',
            env={"P": pattern},
            timeout=300,
        )
        assert world.stdout.strip() == "", f"{node}: world-readable files with a password: {world.stdout.split()}"


def test_second_run_changes_nothing(sandbox: Sandbox, deployed: OrchRun) -> None:
    again = run_orch(sandbox, "pigsty.cluster", pillar=PILLAR)
    assert again.ok, "\n".join(again.failed)
    assert again.changed == [], f"pigsty.cluster changed on its second run: {again.changed}"


def test_pigsalt_deploy_dry_run_reports_nothing_to_change(sandbox: Sandbox, deployed: OrchRun) -> None:
    """The CLI over the sandbox's master, in test mode: every state says it would change nothing."""
    result = CliRunner().invoke(main, ["deploy", "--sandbox", "--cluster", CLUSTER, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "checked in" in result.stdout and ": 0 states would change" in result.stdout


def _postmaster_starts(sandbox: Sandbox) -> dict[str, str]:
    sql = "SELECT pg_postmaster_start_time()"
    return {n: sandbox.run(n, "runuser", "-u", "postgres", "--", "psql", "-Atc", sql).stdout.strip() for n in MEMBERS}


def _pgbouncer_pids(sandbox: Sandbox) -> dict[str, str]:
    return {n: sandbox.run(n, "systemctl", "show", "-P", "MainPID", "pgbouncer").stdout.strip() for n in MEMBERS}


def test_a_user_database_and_hba_rule_added_in_the_pillar_apply_online(sandbox: Sandbox, deployed: OrchRun) -> None:
    cluster_file = sandbox.inventory_dir / "clusters" / f"{CLUSTER}.yml"
    original = cluster_file.read_text()
    spec = yaml.safe_load(original)
    cvars = spec[CLUSTER]["vars"]
    cvars["pg_users"] = [
        *cvars["pg_users"],
        {"name": "dbuser_e2e", "password": "E2e.Pass.Word", "pgbouncer": True, "roles": ["dbrole_readwrite"]},
    ]
    cvars["pg_databases"] = [*cvars["pg_databases"], {"name": "e2e", "owner": "dbuser_e2e"}]
    # A deny rule ordered before the business users' rules: the new user may not connect to
    # Postgres directly from the host, only through the services (Pgbouncer connects locally).
    cvars["pg_hba_rules_extra"] = [
        {"user": "dbuser_e2e", "db": "all", "addr": "10.10.10.1/32", "auth": "deny", "order": 50, "title": "e2e"}
    ]
    # And a custom service: HAProxy reloads, and a connection through it stays up meanwhile.
    cvars["pg_services_extra"] = [
        {"name": "reporting", "port": 5439, "dest": "pgbouncer", "check": "/replica", "selector": "[]"}
    ]
    before = (_postmaster_starts(sandbox), _pgbouncer_pids(sandbox))
    assert all(before[0].values()) and all(before[1].values()), before
    held = _connect(MEMBERS["node-2"], 5433)
    cluster_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        run = run_orch(sandbox, "pigsty.cluster", pillar=PILLAR)
        assert run.ok, "\n".join(run.failed)
        assert held.execute("SELECT 1").fetchall() == [(1,)], "HAProxy's reload dropped an established connection"
        held.close()
        for ip in MEMBERS.values():
            assert _query(ip, 5439, "SELECT pg_is_in_recovery()") == [(True,)]
        for ip in MEMBERS.values():
            rows = _query(
                ip,
                5433,
                "SELECT current_user, current_database()",
                user="dbuser_e2e",
                password="E2e.Pass.Word",
                dbname="e2e",
                require_auth="scram-sha-256",
            )
            assert rows == [("dbuser_e2e", "e2e")]
        with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects connection"):
            _connect(MEMBERS["node-1"], 5432, user="dbuser_e2e", password="E2e.Pass.Word", dbname="e2e")
        assert (_postmaster_starts(sandbox), _pgbouncer_pids(sandbox)) == before, "Postgres or Pgbouncer restarted"
    finally:
        cluster_file.write_text(original)
        sandbox.forget(CLUSTER)  # it still serves 5439: the next deployment of pg-test removes it


def test_a_setting_that_needs_a_restart_is_applied_by_a_rolling_restart(sandbox: Sandbox, deployed: OrchRun) -> None:
    """max_connections needs a restart: replicas first, then a switchover, never the primary in place."""
    cluster_file = sandbox.inventory_dir / "clusters" / f"{CLUSTER}.yml"
    original = cluster_file.read_text()
    spec = yaml.safe_load(original)
    spec[CLUSTER]["vars"]["pg_parameters"] = {"max_connections": 150}
    leader_before = json.loads(sandbox.patroni(MEMBERS["node-1"], "/cluster")[1])
    old_leader = next(m["name"] for m in leader_before["members"] if m["role"] == "leader")
    starts = _postmaster_starts(sandbox)
    # The new value stays in the pillar afterwards: putting the lower one back would take a restart
    # of the primary in place, which pigsalt refuses (pgsql.restart says so).
    cluster_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = run_orch(sandbox, "pigsty.cluster", pillar=PILLAR)
    assert run.ok, "\n".join(run.failed)
    sandbox.cluster_runs[CLUSTER] = run  # pg-test is its inventory again, with the new value
    sql = "SELECT setting FROM pg_settings WHERE name = 'max_connections'"
    for node in MEMBERS:
        found = sandbox.run(node, "runuser", "-u", "postgres", "--", "psql", "-Atc", sql).stdout.strip()
        assert found == "150", (node, found)
    members = json.loads(sandbox.patroni(MEMBERS["node-1"], "/cluster")[1])["members"]
    assert not any(m.get("pending_restart") for m in members), members
    new_leader = next(m["name"] for m in members if m["role"] == "leader")
    assert new_leader not in (old_leader, "pg-test-3"), f"leader {new_leader}: no switchover to a replica"
    after = _postmaster_starts(sandbox)
    assert all(after[n] != starts[n] for n in MEMBERS), (starts, after)
    # The old primary was restarted as a replica: it streams from the new leader.
    assert next(m for m in members if m["name"] == old_leader)["state"] == "streaming", members

    def via_vip() -> list[tuple[Any, ...]]:
        try:
            return _query(VIP, 5432, "SELECT pg_is_in_recovery()", connect_timeout=3)
        except psycopg.OperationalError:
            return []

    assert _eventually(via_vip, lambda rows: rows == [(False,)]) == [(False,)], "the VIP did not follow"


def test_hba_rules_follow_a_switchover_at_once_without_salt(sandbox: Sandbox, deployed: OrchRun) -> None:
    """Patroni's role-change callback puts the staged HBA files of the new role in place."""
    members = json.loads(sandbox.patroni(MEMBERS["node-1"], "/cluster")[1])["members"]
    old = next(m["name"] for m in members if m["role"] == "leader")
    new = "pg-test-1" if old != "pg-test-1" else "pg-test-2"
    node = {f"pg-test-{n[-1]}": n for n in MEMBERS}
    done = sandbox.salt(node[old], "patroni.switchover", f"candidate={new}")
    assert done.returncode == 0, done.stdout + done.stderr
    files = ("/pg/conf/pg_hba.conf", "/etc/pgbouncer/pgb_hba.conf")

    def roles() -> dict[str, list[str]]:
        heads = {}
        for name in (old, new):
            lines = sandbox.run(node[name], "head", "-qn1", *files).stdout.splitlines()
            heads[name] = [line.split(" for role ")[-1].split(":")[0] for line in lines]
        return heads

    expected = {old: ["replica", "replica"], new: ["primary", "primary"]}
    assert _eventually(roles, lambda found: found == expected, timeout=60) == expected
    # What the callback wrote is what Salt would write: its HBA states find nothing to change.
    for name in (old, new):
        out = sandbox.salt(node[name], "state.sls", "pgsql.hba,pgbouncer.config", "test=True", "--out=json").stdout
        results = json.loads(out)[node[name]]
        assert isinstance(results, dict), results
        changed = {sid: r["changes"] for sid, r in results.items() if r["changes"] or r["result"] is not True}
        assert changed == {}, (name, changed)
    settled(sandbox, CLUSTER)  # HAProxy's checks and the VIP follow the new leader, for what comes next


def test_pigsalt_deploy_of_a_deployed_sandbox_stops_after_the_check(sandbox: Sandbox, deployed: OrchRun) -> None:
    """A drifted file is seen by the check and the orchestrations put it back (pg-meta too,
    whatever ran before); then everything (infra, nodes, every cluster) is checked at once and
    nothing is left to do: no orchestration."""
    sandbox.run("node-2", "sh", "-c", "echo '# drift' >> /etc/default/prometheus-node-exporter", check=True)
    dry = CliRunner().invoke(main, ["deploy", "--sandbox", "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert "would change: node-2 node-exporter-defaults-file-managed" in dry.stderr
    fixed = CliRunner().invoke(main, ["deploy", "--sandbox"])
    assert fixed.exit_code == 0, fixed.output
    assert "pigsty.node: ok" in fixed.stderr
    assert "# drift" not in sandbox.run("node-2", "cat", "/etc/default/prometheus-node-exporter").stdout
    result = CliRunner().invoke(main, ["deploy", "--sandbox"])
    assert result.exit_code == 0, result.output
    assert "0 states changed (the check found nothing to do)" in result.stdout, result.output
    assert "pigsty.infra" not in result.stderr
