"""make bench-backup: pgBackRest on pg-test holding ~1 GB: a full backup against tar, an
incremental one after 5 % of the rows changed, the archive's lag under write load, and a
point-in-time restore of the whole cluster.

From a fresh sandbox (the e2e inventory): pigsty.infra, pigsty.node, pg-meta and pg-test (the
repository on meta, reached over TLS), not timed. ``pgbench -i -s 70`` fills pg-test's ``test``
database (about 1 GB), run from node-2 against the primary node-1.

Reported, one run each:
- the full backup (``pigsalt backup pg-test --type full``, as a user runs it): seconds, MB/s of
  the data directory, and ``tar -cf`` of the same data directory on node-1 into a file on node-1
  (no compression, no encryption, no network: the floor a copy costs on this disk), and their
  ratio. pgBackRest compresses (zst), encrypts and sends everything to meta over TLS;
- the incremental backup after ``UPDATE`` of every 20th ``pgbench_accounts`` row (5 %);
- under ``pgbench -c 4 -T 60`` (TPC-B-like) through node-1's 5432: the WAL rate and, sampled
  every 0.5 s, the most WAL segments completed but not yet in the repository, as seconds of WAL
  at that rate;
- ``pigsalt restore pg-test --time T --yes`` to a time T noted after the load: wall time of the
  command (the primary restored and recovered, the replicas cloned again, a new full backup),
  and until every member serves (``settled``), with the row count checked at T.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

import pigsalt.sandbox as sb
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster, settled

PRIMARY, CLIENT = "node-1", "node-2"
PRIMARY_IP = "10.10.10.11"
SCALE = 70
SEGMENT = 16 * 1024 * 1024


def _login(sandbox: Sandbox) -> dict[str, str]:
    users = sandbox.inventory.cluster("pg-test").vars["pg_users"]
    password = next(u["password"] for u in users if u["name"] == "test")
    return {"user": "test", "password": password, "dbname": "test"}


def _sql(login: dict[str, str], sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(host=PRIMARY_IP, port=5432, connect_timeout=10, autocommit=True, **login) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _dbsu(sandbox: Sandbox, sql: str) -> str:
    done = sandbox.run(PRIMARY, "runuser", "-u", "postgres", "--", "psql", "-AtXc", sql, check=True)
    return done.stdout.strip()


def _pigsalt(*args: str, timeout: float = 3600) -> tuple[float, str]:
    """A pigsalt command as a user runs it on this machine (through the sandbox's master)."""
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "pigsalt"), *args, "--sandbox"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"pigsalt {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


class ArchiveLag:
    """Samples the primary: completed WAL segments not yet archived, and the WAL position."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.behind: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            row = _dbsu(
                self.sandbox,
                "SELECT pg_walfile_name(pg_current_wal_lsn()), coalesce(last_archived_wal, '') FROM pg_stat_archiver",
            )
            current, archived = row.split("|")
            # last_archived_wal may name a backup label file (…0085.000000D8.backup) or a
            # history file: its first 24 characters are still the segment's name.
            archived = archived[:24]
            if len(archived) == 24 and current[:8] == archived[:8]:
                # Same timeline: segments between them are complete and waiting.
                self.behind.append(max(0, int(current[8:24], 16) - int(archived[8:], 16) - 1))
            self.stop.wait(0.5)


def main() -> int:
    sb.down()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        try:
            deploy_cluster(sandbox, "pg-meta")
            deploy_cluster(sandbox, "pg-test")
            login = _login(sandbox)
            env = {"PGPASSWORD": login["password"]}
            pgbench = ["pgbench", "-h", PRIMARY_IP, "-U", "test"]
            init = sandbox.run(CLIENT, *pgbench, "-i", "-s", str(SCALE), "-q", "test", env=env, timeout=1800)
            if init.returncode != 0:
                print(f"pgbench -i failed: {init.stderr[-500:]}", file=sys.stderr)
                return 1
            data_bytes = int(sandbox.run(PRIMARY, "du", "-sb", "/pg/data", check=True).stdout.split()[0])
            db_size = _sql(login, "SELECT pg_size_pretty(pg_database_size('test'))")[0][0]

            full_s, out = _pigsalt("backup", "pg-test", "--type", "full", "--json")
            full = json.loads(out)
            tar_started = time.monotonic()
            sandbox.run(PRIMARY, "tar", "-cf", "/var/tmp/bench-backup.tar", "-C", "/pg/data", ".", timeout=1800)
            tar_s = time.monotonic() - tar_started
            sandbox.run(PRIMARY, "rm", "-f", "/var/tmp/bench-backup.tar")

            _sql(login, "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 20 = 0")
            incr_s, out = _pigsalt("backup", "pg-test", "--type", "incr", "--json")
            incr = json.loads(out)

            lag = ArchiveLag(sandbox)
            sampler = threading.Thread(target=lag.run, daemon=True)
            lsn_before = _dbsu(sandbox, "SELECT pg_current_wal_lsn()")
            sampler.start()
            load_started = time.monotonic()
            sandbox.run(CLIENT, *pgbench, "-c", "4", "-j", "2", "-T", "60", "test", env=env, timeout=600)
            load_s = time.monotonic() - load_started
            wal_bytes = int(_dbsu(sandbox, f"SELECT pg_current_wal_lsn() - '{lsn_before}'::pg_lsn"))
            time.sleep(5)
            lag.stop.set()
            sampler.join(timeout=10)

            rows_at = _sql(login, "SELECT count(*) FROM pgbench_history")[0][0]
            at = _dbsu(sandbox, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            time.sleep(1)
            _sql(login, "DROP TABLE pgbench_history")
            restore_started = time.monotonic()
            restore_s, _ = _pigsalt("restore", "pg-test", "--time", at, "--yes")
            settled(sandbox, "pg-test", timeout=600)
            in_service_s = time.monotonic() - restore_started
            rows_back = _sql(login, "SELECT count(*) FROM pgbench_history")[0][0]
        finally:
            sb.down()
    mb = data_bytes / 1e6
    rate = wal_bytes / load_s
    worst = max(lag.behind, default=0)
    print(f"pg-test: database test {db_size} (pgbench -i -s {SCALE}), data directory {mb:.0f} MB")
    print(
        f"full backup (pigsalt backup --type full): {full_s:.1f} s ({full['seconds']:.1f} s on the primary), "
        f"{mb / full_s:.0f} MB/s; tar -cf of /pg/data on node-1: {tar_s:.1f} s, {mb / tar_s:.0f} MB/s; "
        f"ratio {full_s / tar_s:.2f}"
    )
    print(f"incremental after 5 % of pgbench_accounts changed: {incr_s:.1f} s ({incr['seconds']:.1f} s on the primary)")
    print(
        f"archive under pgbench -c 4 -T 60: WAL {rate / 1e6:.1f} MB/s; at most {worst} completed segments not yet "
        f"in the repository ({worst * SEGMENT / rate if rate else 0:.1f} s of WAL), over {len(lag.behind)} samples"
    )
    print(
        f"pigsalt restore pg-test --time T: {restore_s:.1f} s; every member serving: {in_service_s:.1f} s; "
        f"pgbench_history at T {rows_at} rows, back {rows_back}"
    )
    return 0 if rows_back == rows_at else 1


if __name__ == "__main__":
    sys.exit(main())
