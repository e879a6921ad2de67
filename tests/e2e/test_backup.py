"""Backups on the deployed sandbox: the first full backup taken by the deployment, WAL archived
from whichever member is primary, backups on demand through the CLI, and the repository's TLS
server keeping each cluster to its own stanza, pg_crontab's timers; a restore to a point in time (last: it leaves
pg-test on a new timeline, led by its inventory's primary)."""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.errors import PigsaltError
from pigsalt.inventory import cron
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster, settled
from tests.e2e.test_monitoring import _api, _eventually

pytestmark = pytest.mark.e2e

MEMBERS = {"node-1": "pg-test-1", "node-2": "pg-test-2", "node-3": "pg-test-3"}
CONFIG = "/etc/pgbackrest/pgbackrest.conf"


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> Sandbox:
    deploy_cluster(sandbox_session, "pg-meta")
    deploy_cluster(sandbox_session, "pg-test")
    return sandbox_session


def _psql(sandbox: Sandbox, node: str, sql: str) -> str:
    done = sandbox.run(node, "runuser", "-u", "postgres", "--", "psql", "-AtXc", sql, check=True)
    return done.stdout.strip()


def _leader(sandbox: Sandbox) -> str:
    members = json.loads(sandbox.patroni("10.10.10.11", "/cluster")[1])["members"]
    name = next(m["name"] for m in members if m["role"] == "leader")
    return next(node for node, member in MEMBERS.items() if member == name)


def _list(cluster: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["backup", "list", cluster, "--sandbox", "--json"])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def _archived(sandbox: Sandbox, node: str, segment: str, timeout: float = 120) -> bool:
    """True once ``segment`` (or a later one) is archived on ``node`` (the primary)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = _psql(sandbox, node, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if last and last[8:] >= segment[8:]:  # same timeline or later: compare log and segment numbers
            return True
        time.sleep(1)
    return False


def test_the_deployment_took_a_full_backup_of_each_cluster(deployed: Sandbox) -> None:
    for cluster in ("pg-test", "pg-meta"):
        rows = _list(cluster)
        backups = [r for r in rows if "label" in r]
        assert any(b["type"] == "full" and not b["error"] for b in backups), rows
        (window,) = [r["window"] for r in rows if "window" in r]
        assert window["earliest"] is not None and window["latest"] >= window["earliest"], window


def test_wal_is_archived_from_the_primary_and_from_the_next_one_after_a_switchover(deployed: Sandbox) -> None:
    leader = _leader(deployed)
    segment = _psql(deployed, leader, "SELECT pg_walfile_name(pg_switch_wal())")
    assert _archived(deployed, leader, segment), f"{segment} not archived on {leader}"
    candidate = next(node for node in MEMBERS if node not in (leader, "node-3"))
    done = deployed.salt(leader, "patroni.switchover", f"candidate={MEMBERS[candidate]}")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        settled(deployed, "pg-test")
        assert _leader(deployed) == candidate
        _psql(deployed, candidate, "CREATE TABLE IF NOT EXISTS e2e_archive (id int)")
        segment = _psql(deployed, candidate, "SELECT pg_walfile_name(pg_switch_wal())")
        assert _archived(deployed, candidate, segment), f"{segment} not archived on {candidate} after the switchover"
    finally:
        if _leader(deployed) != leader:
            back = deployed.salt(_leader(deployed), "patroni.switchover", f"candidate={MEMBERS[leader]}")
            assert back.returncode == 0, back.stdout + back.stderr
        settled(deployed, "pg-test")


def test_a_backup_on_demand_is_listed_with_its_type(deployed: Sandbox) -> None:
    before = {r["label"] for r in _list("pg-test") if "label" in r}
    result = CliRunner().invoke(main, ["backup", "pg-test", "--type", "incr", "--sandbox", "--json"])
    assert result.exit_code == 0, result.output
    taken = json.loads(result.stdout)
    assert taken["cluster"] == "pg-test" and taken["backup"]["type"] == "incr", taken
    assert taken["node"] == _leader(deployed)
    after = {r["label"]: r for r in _list("pg-test") if "label" in r}
    assert set(after) - before == {taken["backup"]["label"]}


def test_an_unknown_cluster_is_one_line_and_a_failure(deployed: Sandbox) -> None:
    result = CliRunner().invoke(main, ["backup", "pg-nope", "--sandbox"])
    assert result.exit_code != 0
    assert "cluster 'pg-nope' is not in the inventory" in result.output, result.output
    assert "Traceback" not in result.output


def _info_as(sandbox: Sandbox, node: str, stanza: str) -> tuple[int, str, int | None]:
    """``pgbackrest info`` for ``stanza`` as ``node``'s postgres: exit code, all it printed, and
    the stanza's status code (None when no JSON came back)."""
    argv = ["pgbackrest", f"--config={CONFIG}", f"--stanza={stanza}", "--output=json", "info"]
    done = sandbox.run(node, "runuser", "-u", "postgres", "--", *argv)
    try:
        code: int | None = int(json.loads(done.stdout)[0]["status"]["code"])
    except (ValueError, LookupError, TypeError):
        code = None
    return done.returncode, done.stdout + done.stderr, code


def test_a_node_of_another_cluster_is_refused_by_the_stanza(deployed: Sandbox) -> None:
    """meta (pg-meta's member) presents its client certificate for pg-test's stanza: refused."""
    returncode, printed, code = _info_as(deployed, "meta", "pg-test")
    assert returncode != 0 or code != 0, printed
    assert "access denied" in printed.lower(), printed
    returncode, printed, code = _info_as(deployed, "meta", "pg-meta")
    assert (returncode, code) == (0, 0), printed


def test_the_repository_port_is_open_to_backed_up_members_only(deployed: Sandbox) -> None:
    probe = "import socket,sys; s=socket.socket(); s.settimeout(5); sys.exit(s.connect_ex(('10.10.10.10', 8432)))"
    assert deployed.run("node-1", "/usr/bin/python3", "-c", probe).returncode == 0
    # node-4 runs pg-deb12 (Debian 12's pgBackRest 2.45 cannot talk to meta's 2.55): no backup, no port.
    assert deployed.run("node-4", "/usr/bin/python3", "-c", probe).returncode != 0


def _pg_crontab_unit(sandbox: Sandbox) -> str:
    (line,) = sandbox.inventory.cluster("pg-test").vars["pg_crontab"]
    return f"pigsalt-cron-pg-{cron.parse(line, 'postgres').unit}"


def test_pg_crontab_is_a_timer_on_every_member_and_backs_up_on_the_primary_only(deployed: Sandbox) -> None:
    """The sandbox's pg_crontab ('00 01 * * * /pg/bin/pg-backup full') on each member: a timer
    waiting for 01:00; its service started by hand backs up on the primary and does nothing on a
    replica."""
    unit = _pg_crontab_unit(deployed)
    for node in MEMBERS:
        shown = deployed.run(node, "systemctl", "show", f"{unit}.timer", "-p", "ActiveState", "-p", "TimersCalendar")
        assert "ActiveState=active" in shown.stdout, (node, shown.stdout)
        assert "OnCalendar=*-*-* 01:00:00" in shown.stdout, (node, shown.stdout)
    leader = _leader(deployed)
    replica = next(node for node in MEMBERS if node != leader)
    before = {r["label"] for r in _list("pg-test") if "label" in r}
    done = deployed.run(replica, "systemctl", "start", f"{unit}.service")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["label"] for r in _list("pg-test") if "label" in r} == before
    done = deployed.run(leader, "systemctl", "start", f"{unit}.service")
    assert done.returncode == 0, done.stdout + done.stderr
    new = [r for r in _list("pg-test") if "label" in r and r["label"] not in before]
    assert [r["type"] for r in new] == ["full"], new


def test_backup_and_archive_metrics_reach_prometheus_from_every_member(deployed: Sandbox) -> None:
    """pigsalt-backup-metrics.timer writes each member's textfile every minute: Prometheus holds
    the repository's backups from all three members and, within a minute, marks the primary
    alone as the member that archives."""
    counted = 'pigsalt_backup_count{stanza="pg-test"} > 0 and on (instance) pigsalt_backup_info_up == 1'
    found = _eventually(lambda: len(_api("query", query=counted)["result"]) == 3 or None, timeout=180)
    assert found, _api("query", query='{__name__=~"pigsalt_backup_.*", stanza="pg-test"}')
    # Each member rewrites its file once a minute: after the earlier tests' switchovers the
    # primary's mark follows within a minute and a scrape.
    leader = _leader(deployed)

    def primaries() -> list[str]:
        found = _api("query", query='pigsalt_archive_primary{stanza="pg-test"} == 1')["result"]
        return [r["metric"]["ins"] for r in found]

    assert _eventually(lambda: primaries() == [leader], timeout=180), primaries()
    age = _api("query", query='pg:cls:full_backup_age_seconds{cls="pg-test"}')["result"]
    assert age and float(age[0]["value"][1]) < 3 * 3600, age
    limit = _api("query", query='pigsalt_backup_full_max_age_seconds{stanza="pg-test"}')["result"]
    assert {r["value"][1] for r in limit} == {str(round(24 * 3600 * 1.1))}, limit


def test_an_unreachable_repository_fails_the_backup_loudly_and_shows_in_the_metrics(deployed: Sandbox) -> None:
    """The repository's TLS server stopped on meta: `pigsalt backup` exits non-zero with
    pgBackRest's one-line reason, the members' metrics say the repository does not answer (what
    PgBackupRepositoryUnreachable fires on after 5 minutes, tests/promtool/backup.test.yml), and
    with the server back a backup succeeds again."""
    deployed.run("meta", "systemctl", "stop", "pigsalt-pgbackrest", check=True)
    try:
        failed = CliRunner().invoke(main, ["backup", "pg-test", "--sandbox"])
        assert failed.exit_code != 0, failed.output
        assert "Traceback" not in failed.output
        last = failed.output.strip().splitlines()[-1]
        assert last.startswith("Error: ") and "pg-test" in last, failed.output
        down = 'max by (stanza) (pigsalt_backup_info_up{stanza="pg-test"}) == 0'
        assert _eventually(lambda: _api("query", query=down)["result"], timeout=180), _api(
            "query", query='pigsalt_backup_info_up{stanza="pg-test"}'
        )
    finally:
        deployed.run("meta", "systemctl", "start", "pigsalt-pgbackrest", check=True)
    result = CliRunner().invoke(main, ["backup", "pg-test", "--type", "incr", "--sandbox"])
    assert result.exit_code == 0, result.output


def _postgres_runs(sandbox: Sandbox, node: str) -> bool:
    return sandbox.run(node, "pgrep", "-u", "postgres", "-x", "postgres").returncode == 0


def test_a_restore_that_fails_half_way_leaves_no_primary_and_says_how_to_go_back(deployed: Sandbox) -> None:
    """The inventory's primary, a replica after a switchover, cannot read its pgBackRest
    configuration: the restore fails after Patroni has stopped everywhere and before the DCS
    reset. No member runs Postgres (never two primaries), and the commands the error names serve
    the data of before again and clone the primary back."""
    if _leader(deployed) == "node-1":
        done = deployed.salt("node-1", "patroni.switchover", "candidate=pg-test-2")
        assert done.returncode == 0, done.stdout + done.stderr
        settled(deployed, "pg-test")
    leader = _leader(deployed)
    _psql(deployed, leader, "DROP TABLE IF EXISTS e2e_fault; CREATE TABLE e2e_fault AS SELECT 42 AS id")
    deployed.run("node-1", "mv", CONFIG, f"{CONFIG}.aside", check=True)
    try:
        result = _restore("--latest", "--yes")
        assert result.exit_code != 0, result.output
        last = result.output.strip().splitlines()[-1]
        assert "Patroni is stopped on every member" in last, result.output
        assert [node for node in MEMBERS if _postgres_runs(deployed, node)] == []
    finally:
        deployed.run("node-1", "mv", f"{CONFIG}.aside", CONFIG, check=True)
    for command in re.findall(r"`(salt [^`]+)`", last):
        done = deployed.run("meta", *shlex.split(command), "--out=json", timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    def all_streaming() -> bool:
        members = json.loads(deployed.patroni("10.10.10.12", "/cluster")[1])["members"]
        return sorted(m.get("state") for m in members) == ["running", "streaming", "streaming"]

    assert _eventually(all_streaming, timeout=300), deployed.patroni("10.10.10.12", "/cluster")[1][:800]
    for node in MEMBERS:
        assert _eventually(lambda n=node: _psql(deployed, n, "SELECT id FROM e2e_fault") == "42", timeout=60), node
    # The inventory's primary leads again for the tests after this one.
    done = deployed.salt(_leader(deployed), "patroni.switchover", "candidate=pg-test-1")
    assert done.returncode == 0, done.stdout + done.stderr
    settled(deployed, "pg-test")
    _psql(deployed, "node-1", "DROP TABLE e2e_fault")


def _restore(*args: str) -> Any:
    return CliRunner().invoke(main, ["restore", "pg-test", *args, "--sandbox"])


def test_a_restore_target_outside_the_window_is_refused_naming_it(deployed: Sandbox) -> None:
    result = _restore("--time", "2001-01-01T00:00:00Z", "--yes")
    assert result.exit_code != 0
    assert "outside pg-test's window" in result.output, result.output
    assert "Traceback" not in result.output
    assert _leader(deployed) == "node-1" and _psql(deployed, "node-1", "SELECT pg_is_in_recovery()") == "f"


def test_a_dry_run_names_the_backup_and_changes_nothing(deployed: Sandbox) -> None:
    newest = [r for r in _list("pg-test") if "label" in r][-1]["label"]
    result = _restore("--latest", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["restore"] == {"type": "latest", "set": newest}, found
    assert found["primary"] == "node-1"


def _built_from_repository(sandbox: Sandbox, node: str, since: str) -> bool:
    """Patroni on ``node`` says, since ``since`` (its clock), that pgBackRest built its replica."""
    log = sandbox.run(node, "journalctl", "--unit", "patroni", "--since", since, "--no-pager", "--output", "cat")
    return "replica has been created using pgbackrest" in log.stdout


def test_a_reinitialised_replica_is_rebuilt_from_the_repository_and_catches_up(deployed: Sandbox) -> None:
    """patronictl's reinit of a replica (Patroni's REST API, as patronictl sends it): Patroni
    restores the newest backup from the repository (not a copy from the leader), replays the WAL
    since from the archive, and streams again with the rows written after the backup."""
    leader = _leader(deployed)
    replica = next(node for node in sorted(MEMBERS) if node != leader)
    _psql(deployed, leader, "DROP TABLE IF EXISTS e2e_reinit")
    _psql(deployed, leader, "CREATE TABLE e2e_reinit AS SELECT generate_series(1, 1000) AS id")
    since = deployed.run(replica, "date", "+%Y-%m-%d %H:%M:%S", check=True).stdout.strip()
    spec = deployed.inventory.cluster("pg-test").vars
    # The REST API's password: the inventory's, or the one generated into the secrets store.
    auth = (str(spec["patroni_username"]), str(spec["patroni_password"] or deployed.secrets()["patroni_password"]))
    status, body = deployed.patroni(deployed.inventory.node(replica).ip, "/reinitialize", method="POST", auth=auth)
    assert status == 200, body[:300]

    # Patroni answers at once and rebuilds in the background: first its log, then the member.
    assert _eventually(lambda: _built_from_repository(deployed, replica, since), timeout=240), deployed.run(
        replica, "journalctl", "--unit", "patroni", "--since", since, "--no-pager", "--output", "cat"
    ).stdout[-2000:]

    def caught_up() -> bool:
        members = json.loads(deployed.patroni("10.10.10.11", "/cluster")[1])["members"]
        if next(m.get("state") for m in members if m["name"] == MEMBERS[replica]) != "streaming":
            return False
        try:
            return _psql(deployed, replica, "SELECT count(*) FROM e2e_reinit") == "1000"
        except PigsaltError:  # Postgres still starting
            return False

    assert _eventually(caught_up, timeout=240), deployed.patroni("10.10.10.11", "/cluster")[1][:800]
    _psql(deployed, leader, "DROP TABLE e2e_reinit")


def _test_login(sandbox: Sandbox) -> dict[str, Any]:
    users = sandbox.inventory.cluster("pg-test").vars["pg_users"]
    password = next(u["password"] for u in users if u["name"] == "test")
    return {"user": "test", "password": password, "dbname": "test", "connect_timeout": 10}


def test_a_dropped_table_comes_back_as_it_was_at_the_time_across_a_switchover(deployed: Sandbox) -> None:
    """Rows, a switchover (a new timeline in the archive), more rows, time T, more rows, DROP
    TABLE: the restore to T brings back exactly the rows committed up to T on every member, the
    inventory's primary leads behind the VIP, and the cluster takes writes and backups again."""
    _psql(deployed, "node-1", "DROP TABLE IF EXISTS e2e_pitr")
    _psql(deployed, "node-1", "CREATE TABLE e2e_pitr (id int); INSERT INTO e2e_pitr SELECT generate_series(1, 100)")
    done = deployed.salt("node-1", "patroni.switchover", "candidate=pg-test-2")
    assert done.returncode == 0, done.stdout + done.stderr
    settled(deployed, "pg-test")
    assert _leader(deployed) == "node-2"
    _psql(deployed, "node-2", "INSERT INTO e2e_pitr SELECT generate_series(101, 150)")
    time.sleep(1)
    at = _psql(deployed, "node-2", "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    time.sleep(1)
    _psql(deployed, "node-2", "INSERT INTO e2e_pitr SELECT generate_series(151, 200)")
    _psql(deployed, "node-2", "DROP TABLE e2e_pitr")
    before = {r["label"] for r in _list("pg-test") if "label" in r}

    since = {node: deployed.run(node, "date", "+%Y-%m-%d %H:%M:%S", check=True).stdout.strip() for node in MEMBERS}
    result = _restore("--time", at, "--yes")
    assert result.exit_code == 0, result.output

    settled(deployed, "pg-test")
    assert _leader(deployed) == "node-1"
    for node in MEMBERS:
        assert _psql(deployed, node, "SELECT count(*), min(id), max(id) FROM e2e_pitr") == "150|1|150", node
    # The replicas were built from the new timeline's backup, taken before them.
    for node in ("node-2", "node-3"):
        assert _built_from_repository(deployed, node, since[node]), node
    with psycopg.connect(host="10.10.10.3", port=5433, **_test_login(deployed)) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        conn.execute("CREATE TABLE e2e_after_restore (id int)")
    with psycopg.connect(host="10.10.10.3", port=5434, **_test_login(deployed)) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    after = [r for r in _list("pg-test") if "label" in r]
    assert {r["label"] for r in after} - before, after  # the restore's own full backup
    result = CliRunner().invoke(main, ["backup", "pg-test", "--type", "incr", "--sandbox", "--json"])
    assert result.exit_code == 0, result.output
