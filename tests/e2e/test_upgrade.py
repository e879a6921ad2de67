"""`pigsalt upgrade pg-deb12 --to 17`: PostgreSQL 15 on Debian 12 (node-4, node-5) moves to its
successor pg-deb13 (node-6, Debian 13, PostgreSQL 17) by logical replication, as a user runs it
on the Salt master; then data, users, services and the VIP work on 17.

Runs after test_cluster_debian12 (conftest's MODULE_ORDER): the source is left read-only.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest

from pigsalt.sandbox.image import SALT_VENV
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster

pytestmark = pytest.mark.e2e

SOURCE = {"node-4": "10.10.10.14", "node-5": "10.10.10.15"}
SUCCESSOR = {"node-6": "10.10.10.16"}
VIP = "10.10.10.4"
USER = {"user": "legacy", "password": "Legacy.Pass.12", "dbname": "legacy"}
ROWS = 5000


@pytest.fixture(scope="module")
def clusters(sandbox_session: Sandbox) -> Sandbox:
    deploy_cluster(sandbox_session, "pg-deb12")
    deploy_cluster(sandbox_session, "pg-deb13")
    return sandbox_session


def _query(host: str, port: int, sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(host=host, port=port, connect_timeout=10, autocommit=True, **USER) as conn:
        cursor = conn.execute(sql, args or None)
        return cursor.fetchall() if cursor.description else []


def _upgrade(sandbox: Sandbox, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """`pigsalt upgrade pg-deb12 --to 17 ARGS` on the master node, where users run it."""
    argv = [f"{SALT_VENV}/bin/pigsalt", "upgrade", "pg-deb12", "--to", "17", *args]
    done = sandbox.run(sandbox.layout.master, *argv, timeout=timeout)
    print(done.stdout, done.stderr)
    return done


def _vip_holder(sandbox: Sandbox) -> list[str]:
    return [
        node
        for node in (*SOURCE, *SUCCESSOR)
        if f"inet {VIP}/" in sandbox.run(node, "ip", "-4", "-o", "addr", "show").stdout
    ]


@dataclass
class WriteProbe:
    """A write through the VIP's primary service every 50 ms, a new connection each, 1 s deadlines."""

    oks: list[float] = field(default_factory=list)
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with (
                    psycopg.connect(host=VIP, port=5433, connect_timeout=1, autocommit=True, **USER) as conn,
                    conn.transaction(),
                ):
                    # Pgbouncer takes no startup options: the deadline is set inside the transaction.
                    conn.execute("SET LOCAL statement_timeout = 1000")
                    conn.execute("INSERT INTO probe (at) VALUES (clock_timestamp())")
                self.oks.append(time.monotonic())
            except psycopg.Error:
                self.failures += 1
            self.stop.wait(0.05)

    def longest_pause(self) -> float:
        return max((b - a for a, b in itertools.pairwise(self.oks)), default=float("inf"))


@pytest.fixture(scope="module")
def data(clusters: Sandbox) -> Iterator[Sandbox]:
    primary = SOURCE["node-4"]
    assert _upgrade(clusters, "--abort").returncode == 0  # from a clean pair, even on a kept sandbox
    _query(primary, 5436, "DROP TABLE IF EXISTS orders, probe, notes")
    _query(primary, 5436, "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL, qty int)")
    _query(primary, 5436, "INSERT INTO orders (item, qty) SELECT 'item-' || g, g FROM generate_series(1, %s) g", ROWS)
    _query(primary, 5436, "CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz)")
    _query(primary, 5436, "CREATE TABLE notes (body text)")  # no primary key: blocks
    yield clusters


def test_the_dry_run_names_what_blocks_and_changes_nothing(data: Sandbox) -> None:
    done = _upgrade(data, "--check")
    assert done.returncode == 1, done.stdout
    assert "public.notes" in done.stderr and "primary key" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # nothing published on the source
    assert _query(SOURCE["node-4"], 5436, "SELECT count(*) FROM pg_publication") == [(0,)]
    _query(SOURCE["node-4"], 5436, "ALTER TABLE notes ADD COLUMN id bigserial PRIMARY KEY")
    ok = _upgrade(data, "--check")
    assert ok.returncode == 0, ok.stderr
    assert "nothing blocks" in ok.stdout


def test_without_the_typed_confirmation_it_replicates_and_abort_is_the_way_back(data: Sandbox) -> None:
    done = _upgrade(data, "--confirm", "not-the-name")
    assert done.returncode == 2 and "not confirmed" in done.stderr, done.stderr
    # the successor holds every row, and follows new writes
    assert _query(SUCCESSOR["node-6"], 5436, "SELECT count(*) FROM orders") == [(ROWS,)]
    _query(SOURCE["node-4"], 5436, "INSERT INTO orders (item, qty) VALUES ('late', 1)")
    for _ in range(100):
        if _query(SUCCESSOR["node-6"], 5436, "SELECT count(*) FROM orders WHERE item = 'late'") == [(1,)]:
            break
        time.sleep(0.2)
    else:
        pytest.fail("a write on the source did not reach the successor")
    aborted = _upgrade(data, "--abort")
    assert aborted.returncode == 0, aborted.stderr
    assert _query(SOURCE["node-4"], 5436, "SELECT count(*) FROM pg_publication") == [(0,)]
    assert _query(SOURCE["node-4"], 5436, "SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'") == [
        (0,)
    ]
    assert _query(SUCCESSOR["node-6"], 5436, "SELECT count(*) FROM pg_subscription") == [(0,)]
    # the source still takes writes, through its VIP
    assert _query(VIP, 5433, "INSERT INTO orders (item, qty) VALUES ('after abort', 1) RETURNING qty") == [(1,)]
    assert _vip_holder(data) == ["node-4"]


def test_the_upgrade_moves_data_users_services_and_the_vip_to_17(data: Sandbox) -> None:
    probe = WriteProbe()
    writer = threading.Thread(target=probe.run, daemon=True)
    writer.start()
    try:
        time.sleep(2)
        done = _upgrade(data, "--confirm", "pg-deb12")
        time.sleep(5)
    finally:
        probe.stop.set()
        writer.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert "cut over in" in done.stdout
    pause = probe.longest_pause()
    print(f"write pause at the cutover: {pause:.2f} s ({probe.failures} failed writes, {len(probe.oks)} ok)")
    assert pause < 120, pause

    # the VIP sits on the successor's primary, and answers as 17
    assert _vip_holder(data) == ["node-6"]
    assert _query(VIP, 5433, "SELECT current_setting('server_version_num')::int / 10000") == [(17,)]
    # every row, the source frozen with the same count
    source_count = _query(SOURCE["node-4"], 5436, "SELECT count(*) FROM orders")
    assert _query(VIP, 5433, "SELECT count(*) FROM orders") == source_count
    assert source_count[0][0] == ROWS + 2
    # probe rows acknowledged on either side are all there
    assert _query(VIP, 5433, "SELECT count(*) FROM probe")[0][0] >= len(probe.oks)
    # sequences continue where the source stopped: no duplicate key
    assert _query(VIP, 5433, "INSERT INTO orders (item, qty) VALUES ('on 17', 17) RETURNING qty") == [(17,)]
    # the user logs in through every service of the successor's node
    for port in (5433, 5434, 5436):
        assert _query(SUCCESSOR["node-6"], port, "SELECT current_user") == [("legacy",)], port
    # the source is read-only and replicates nothing any more
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _query(SOURCE["node-4"], 5436, "INSERT INTO orders (item, qty) VALUES ('stale', 0)")
    assert _query(SUCCESSOR["node-6"], 5436, "SELECT count(*) FROM pg_subscription") == [(0,)]
    # a second run says it is done, and changes nothing
    again = _upgrade(data, "--confirm", "pg-deb12")
    assert again.returncode == 0 and "already cut over" in again.stdout, again.stderr
    assert _query(VIP, 5433, "SELECT current_setting('server_version_num')::int / 10000") == [(17,)]
    back = _upgrade(data, "--abort")
    assert back.returncode == 2 and "no way back" in back.stderr, back.stderr
