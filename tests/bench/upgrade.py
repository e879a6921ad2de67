"""make bench-upgrade: `pigsalt upgrade pg-deb12 --to 17` of a cluster holding 1 GB, and the write
pause at its cutover.

From a fresh sandbox (the e2e inventory): pigsty.infra, pigsty.node, pg-deb12 (Debian 12,
PostgreSQL 15, node-4 and node-5, VIP 10.10.10.4) and its successor pg-deb13 (Debian 13,
PostgreSQL 17, node-6), not timed. ``pgbench -i -s 70`` fills pg-deb12's ``legacy`` database
(about 1 GB; ``pgbench_history`` has no primary key, so it gets ``REPLICA IDENTITY FULL``, as
the dry run asks). A write probe runs from this machine through the VIP's primary service
(10.10.10.4:5433), a new connection per write, 1 s connect and statement deadlines, every 50 ms,
for the whole upgrade. Then `pigsalt upgrade pg-deb12 --to 17 --confirm pg-deb12` runs on the
master, timed as a whole; the command's own cutover line is printed as it is.

Reported: the database size, the upgrade's wall time, the cutover line, the longest gap between
two acknowledged writes (the write pause), the failed writes, and the acknowledged writes
missing on 17 afterwards (lost).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

import pigsalt.sandbox as sb
from pigsalt.sandbox.image import SALT_VENV
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster

SOURCE_PRIMARY = "10.10.10.14"
VIP = "10.10.10.4"
USER = {"user": "legacy", "password": "Legacy.Pass.12", "dbname": "legacy"}
SCALE = 70


class Probe:
    """Writes a sequence number through the VIP; keeps when each acknowledged write returned."""

    def __init__(self) -> None:
        self.acked: list[tuple[int, float]] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for n in range(1, 10**9):
            if self.stop.is_set():
                return
            try:
                with (
                    psycopg.connect(host=VIP, port=5433, connect_timeout=1, autocommit=True, **USER) as conn,
                    conn.transaction(),
                ):
                    # Pgbouncer takes no startup options: the deadline is set inside the transaction.
                    conn.execute("SET LOCAL statement_timeout = 1000")
                    conn.execute("INSERT INTO probe (n) VALUES (%s)", (n,))
                self.acked.append((n, time.monotonic()))
            except psycopg.Error:
                self.failed += 1
            self.stop.wait(0.05)

    def longest_pause(self) -> float:
        times = [t for _, t in self.acked]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("nan"))


def _sql(host: str, port: int, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(host=host, port=port, connect_timeout=10, autocommit=True, **USER) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def main() -> int:
    sb.down()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        try:
            deploy_cluster(sandbox, "pg-deb12")
            deploy_cluster(sandbox, "pg-deb13")
            init = sandbox.run(
                "node-5",
                "pgbench",
                "-i",
                "-s",
                str(SCALE),
                "-q",
                "-h",
                SOURCE_PRIMARY,
                "-U",
                USER["user"],
                USER["dbname"],
                env={"PGPASSWORD": USER["password"]},
                timeout=1800,
            )
            if init.returncode != 0:
                print(f"pgbench -i failed: {init.stderr[-500:]}", file=sys.stderr)
                return 1
            _sql(SOURCE_PRIMARY, 5432, "ALTER TABLE pgbench_history REPLICA IDENTITY FULL")
            _sql(SOURCE_PRIMARY, 5432, "CREATE TABLE probe (n bigint PRIMARY KEY, at timestamptz DEFAULT now())")
            size = _sql(SOURCE_PRIMARY, 5432, "SELECT pg_size_pretty(pg_database_size('legacy'))")[0][0]
            probe = Probe()
            writer = threading.Thread(target=probe.run, daemon=True)
            writer.start()
            time.sleep(3)
            started = time.monotonic()
            done = sandbox.run(
                sandbox.layout.master,
                f"{SALT_VENV}/bin/pigsalt",
                "upgrade",
                "pg-deb12",
                "--to",
                "17",
                "--confirm",
                "pg-deb12",
                timeout=3600,
            )
            took = time.monotonic() - started
            time.sleep(5)
            probe.stop.set()
            writer.join(timeout=10)
            if done.returncode != 0:
                print(f"pigsalt upgrade failed:\n{done.stdout}\n{done.stderr}", file=sys.stderr)
                return 1
            on_17 = {int(str(n)) for (n,) in _sql(VIP, 5433, "SELECT n FROM probe")}
            lost = [n for n, _ in probe.acked if n not in on_17]
            version = _sql(VIP, 5433, "SELECT current_setting('server_version')")[0][0]
            accounts = _sql(VIP, 5433, "SELECT count(*) FROM pgbench_accounts")[0][0]
        finally:
            sb.down()
    cutover = next((line for line in done.stdout.splitlines() if line.startswith("cut over in")), "?")
    print(f"database legacy: {size} (pgbench -i -s {SCALE}); on 17 afterwards: {accounts} accounts, server {version}")
    print(f"pigsalt upgrade pg-deb12 --to 17 (check, schema, initial copy, cutover, finish): {took:.0f} s")
    print(f"  {cutover}")
    print(
        f"write probe through {VIP}:5433: longest pause {probe.longest_pause():.2f} s, "
        f"{probe.failed} failed writes, {len(probe.acked)} acknowledged, {len(lost)} acknowledged writes lost"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
