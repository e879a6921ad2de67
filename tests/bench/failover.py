"""make bench-failover: what clients see when pg-test's primary fails, against DOMAIN.md's baseline.

From a fresh sandbox: pigsty.infra, pigsty.node and pigsty.cluster for pg-test (not timed). A
probe then runs from this machine (10.10.10.1) as DOMAIN.md's baseline did: a new connection per
query with 1 s connect and query deadlines, 10 writes/s through a replica node's 5433 and 10
reads/s through another node's 5434 (the two nodes that are not the primary when the fault
starts). Faults, each on the member leading at the time, each followed by a return to three
healthy members before the next:

- ``switchover``: ``patroni.switchover`` (planned);
- ``kill-postmaster``: ``kill -9`` of the primary's postmaster;
- ``freeze 45 s``: every process of the primary's node frozen at once (cgroup v2
  ``cgroup.freeze`` of the node), thawed after 45 s: the nearest thing to a power-off here —
  nothing answers and nothing resets a connection; the leader lock expires by its ttl;
- ``cut``: the primary's link down (``pigsalt sandbox cut``), healed after 45 s.

Reported per fault: the longest gap between two acknowledged writes, the failed reads, and the
acknowledged writes missing at the end (lost).
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

import pigsalt.sandbox as sb
from pigsalt.pillar.tls import CA_CERT
from pigsalt.sandbox import system
from pigsalt.sandbox.image import SALT_VENV
from tests.e2e.conftest import HTTP_SCRIPT, Sandbox
from tests.e2e.orch import run_orch

CLUSTER = "pg-test"
MEMBERS = {f"pg-test-{n}": (f"node-{n}", f"10.10.10.1{n}") for n in (1, 2, 3)}
USER = {"user": "test", "password": "test", "dbname": "test"}
RATE = 0.1  # seconds between two probes of each kind
DEADLINE = 1  # connect and query deadline, seconds
CUT_FOR = 45.0
HEALTHY_TIMEOUT = 180.0


def cluster() -> dict[str, object]:
    """pg-test as a member's Patroni describes it, asked from meta (the node firewall opens 8008
    to the meta nodes, not to this host) over HTTPS, verified against the local CA."""
    leader_pid = sb.leader("meta", sb.SandboxPaths())
    for _, ip in MEMBERS.values():
        args = json.dumps({"url": f"https://{ip}:8008/cluster", "method": "GET", "auth": None, "ca": CA_CERT})
        done = sb.node_run(leader_pid, [f"{SALT_VENV}/bin/python", "-c", HTTP_SCRIPT, args], check=False, timeout=10)
        status, _, body = done.stdout.partition("\n")
        if done.returncode == 0 and status == "200":
            return dict(json.loads(body))
    return {"members": []}


def leader() -> str | None:
    members = cluster()["members"]
    assert isinstance(members, list)
    return next((m["name"] for m in members if m.get("role") == "leader" and m.get("state") == "running"), None)


def wait_healthy(timeout: float = HEALTHY_TIMEOUT) -> str:
    """Until a running leader and two streaming replicas; the leader's name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = cluster()["members"]
        assert isinstance(members, list)
        states = sorted((m.get("role"), m.get("state")) for m in members)
        if states == [("leader", "running"), ("replica", "streaming"), ("replica", "streaming")]:
            name = leader()
            if name:
                return name
        time.sleep(1)
    raise SystemExit(f"pg-test not healthy after {timeout:g} s: {cluster()}")


def query_once(ip: str, port: int, sql: str, *args: object) -> bool:
    """One query on a new connection within DEADLINE for the connection (libpq's connect_timeout
    covers the whole startup) and DEADLINE for the query; whether it worked."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            with psycopg.connect(host=ip, port=port, connect_timeout=DEADLINE, autocommit=True, **USER) as conn:
                conn.execute(sql, args or None)
            result.append(True)
        except psycopg.Error:
            result.append(False)

    # A frozen server never answers the query: the attempt is abandoned, not waited for.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(2 * DEADLINE)
    return bool(result and result[0])


@dataclass
class Probe:
    """Writes through ``write_ip``:5433 and reads through ``read_ip``:5434 until stopped."""

    write_ip: str
    read_ip: str
    acked: list[tuple[float, int]] = field(default_factory=list)
    failed_reads: int = 0
    reads: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def writer(self) -> None:
        seq = 0
        while not self.stop.is_set():
            seq += 1
            sent = time.monotonic()
            if query_once(self.write_ip, 5433, "INSERT INTO failover_probe (seq) VALUES (%s)", seq):
                self.acked.append((time.monotonic(), seq))
            self.stop.wait(max(0.0, RATE - (time.monotonic() - sent)))

    def reader(self) -> None:
        while not self.stop.is_set():
            self.reads += 1
            sent = time.monotonic()
            if not query_once(self.read_ip, 5434, "SELECT 1"):
                self.failed_reads += 1
            self.stop.wait(max(0.0, RATE - (time.monotonic() - sent)))

    def run(self, fault: Callable[[], None], settle: float) -> None:
        threads = [threading.Thread(target=self.writer), threading.Thread(target=self.reader)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        fault()
        time.sleep(settle)
        self.stop.set()
        for thread in threads:
            thread.join()

    def gap(self) -> float:
        times = [t for t, _ in self.acked]
        return max((b - a for a, b in itertools.pairwise(times)), default=float("inf"))


def main() -> int:
    sb.down()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        sandbox.ensure_up()
        try:
            for mods, pillar in (("pigsty.infra", None), ("pigsty.node", None), ("pigsty.cluster", CLUSTER)):
                run = run_orch(sandbox, mods, pillar=json.dumps({"pg_cluster": pillar}) if pillar else None)
                if not run.ok:
                    print(f"{mods} failed: {run.failed}", file=sys.stderr)
                    return 1
            node_of = {name: node for name, (node, _) in MEMBERS.items()}
            primary = wait_healthy()
            psql = ["runuser", "-u", "postgres", "--", "psql", "-d", "test", "-v", "ON_ERROR_STOP=1", "-c"]
            ddl = "CREATE TABLE failover_probe (seq int); GRANT ALL ON failover_probe TO test"
            done = sandbox.run(node_of[primary], *psql, ddl)
            if done.returncode:
                raise SystemExit(done.stderr)

            def switchover(name: str) -> Callable[[], None]:
                return lambda: sandbox.salt(node_of[name], "patroni.switchover")

            def kill_postmaster(name: str) -> Callable[[], None]:
                return lambda: sandbox.run(node_of[name], "pkill", "-KILL", "-x", "-o", "postgres")

            def freeze(name: str) -> Callable[[], None]:
                control = system.CGROUP_ROOT / "unified" / system.CGROUP_NAME / node_of[name] / "cgroup.freeze"

                def fault() -> None:
                    control.write_text("1")
                    try:
                        time.sleep(CUT_FOR)
                    finally:
                        control.write_text("0")

                return fault

            def cut(name: str) -> Callable[[], None]:
                def fault() -> None:
                    sb.cut(node_of[name], sandbox.paths)
                    time.sleep(CUT_FOR)
                    sb.heal(node_of[name], sandbox.paths)

                return fault

            faults = (
                ("switchover", switchover, 20.0),
                ("kill-postmaster", kill_postmaster, 25.0),
                ("freeze 45 s", freeze, 30.0),
                ("cut 45 s", cut, 30.0),
            )
            for label, make, settle in faults:
                primary = wait_healthy()
                others = [MEMBERS[n][1] for n in MEMBERS if n != primary]
                probe = Probe(write_ip=others[0], read_ip=others[1])
                probe.run(make(primary), settle)
                new_primary = wait_healthy()
                seen = {
                    int(line)
                    for line in sandbox.run(
                        node_of[new_primary], *psql[:-1], "-Atc", "SELECT seq FROM failover_probe"
                    ).stdout.split()
                }
                lost = [seq for _, seq in probe.acked if seq not in seen]
                sandbox.run(node_of[new_primary], *psql, "TRUNCATE failover_probe")
                rows.append(
                    f"{label:16} write gap {probe.gap():5.1f} s   "
                    f"failed reads {probe.failed_reads:3d}/{probe.reads:<4d}"
                    f"  lost acked writes {len(lost)}   leader {primary} -> {new_primary}"
                )
                print(rows[-1], flush=True)
        finally:
            sb.down()
    print("probe: new connection per query, 1 s deadlines, 10 writes/s via a replica node's 5433,")
    print("       10 reads/s via another's 5434")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
