"""make bench-fencing: acknowledged writes lost when pg-test's primary is frozen and thawed.

Issue 13's fault: every process of the primary's node frozen at once (cgroup v2
``cgroup.freeze``) for 45 s, longer than the leader lock's ttl, then thawed. Another member
takes over meanwhile; on thaw the old primary still believes it leads until its Patroni wakes,
reads the DCS and demotes it, and pg_rewind then discards what it committed in between.

Clients that keep writing to the frozen node are the ones at risk, so the probe writes, each on a
new connection with 1 s connect and query deadlines, 10 writes/s each, through:

- ``own 5433``: the frozen node's own HAProxy primary service;
- ``VIP 5433`` and ``VIP 5432``: pg-test's L2 VIP (HAProxy, and Postgres directly);
- ``replica 5433``: another member's HAProxy (a control: it never routes to the frozen node
  once its checks mark it down).

A write counts as acknowledged when its ``INSERT`` returned before the deadline. After the
trial and a return to three healthy members, every acknowledged write is looked up on the new
primary; the missing ones are lost.

Modes (arguments, in order; default ``async sync``), each one a change of pg-test's inventory
deployed with ``pigsty.cluster`` before its trials:

- ``async``: the sandbox inventory (``pg_rpo: 1048576``);
- ``sync``: ``pg_rpo: 0`` (strict synchronous mode);
- ``async-nofence``, ``sync-nofence``: the same with ``patroni_fence_mode: off``.

``--trials N`` (default 2) freezes per mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pigsalt.sandbox as sb
from pigsalt.pillar.build import build
from pigsalt.sandbox import system
from tests.bench.failover import cluster, query_once
from tests.e2e.conftest import Sandbox, e2e_inventory_text
from tests.e2e.orch import run_orch

CLUSTER = "pg-test"
MEMBERS = {f"pg-test-{n}": (f"node-{n}", f"10.10.10.1{n}") for n in (1, 2, 3)}
VIP = "10.10.10.3"
RATE = 0.1  # seconds between two writes of one writer
FREEZE_FOR = 45.0
SETTLE = 30.0  # seconds the writers go on after the thaw
HEALTHY_TIMEOUT = 240.0
MODES: dict[str, dict[str, Any]] = {
    "async": {},
    "sync": {"pg_rpo": 0},
    "async-nofence": {"patroni_fence_mode": "off"},
    "sync-nofence": {"pg_rpo": 0, "patroni_fence_mode": "off"},
}
INSERT = "INSERT INTO fencing_probe (writer, seq) VALUES (%s, %s)"
PSQL = ["runuser", "-u", "postgres", "--", "psql", "-d", "test", "-v", "ON_ERROR_STOP=1"]


def inventory_for(mode: str) -> str:
    """The e2e inventory with ``mode``'s variables added to pg-test's."""
    marker = "        pg_cluster: pg-test\n"
    text = e2e_inventory_text()
    assert marker in text, "pg-test's vars not found in the sandbox inventory"
    extra = "".join(f"        {key}: {json.dumps(value)}\n" for key, value in MODES[mode].items())
    return text.replace(marker, marker + extra, 1)


def wait_healthy(sync: bool, timeout: float = HEALTHY_TIMEOUT) -> str:
    """Until a running leader and two streaming replicas (one of them synchronous in sync mode);
    the leader's name."""
    deadline = time.monotonic() + timeout
    members: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        members = list(cluster()["members"])  # type: ignore[arg-type]
        roles = sorted(str(m.get("role")) for m in members)
        states = sorted(str(m.get("state")) for m in members)
        leader = next((m["name"] for m in members if m.get("role") == "leader"), None)
        standbys = [r for r in roles if r != "leader"]
        if (
            leader
            and len(members) == 3
            and states == ["running", "streaming", "streaming"]
            and all(r in ("replica", "sync_standby", "quorum_standby") for r in standbys)
            and (not sync or any(r != "replica" for r in standbys))
        ):
            return str(leader)
        time.sleep(1)
    raise SystemExit(f"pg-test not healthy after {timeout:g} s: {members}")


@dataclass
class Writer:
    """Writes ``(name, seq)`` through ``host:port`` until stopped; what was acknowledged, when."""

    name: str
    host: str
    port: int
    acked: list[tuple[float, int]] = field(default_factory=list)
    sent: int = 0

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.sent += 1
            started = time.monotonic()
            if query_once(self.host, self.port, INSERT, self.name, self.sent):
                self.acked.append((time.monotonic(), self.sent))
            stop.wait(max(0.0, RATE - (time.monotonic() - started)))


def freeze(node: str) -> Callable[[], float]:
    """The fault: ``node`` frozen for FREEZE_FOR seconds; returns the thaw's monotonic time."""
    control = system.CGROUP_ROOT / "unified" / system.CGROUP_NAME / node / "cgroup.freeze"

    def fault() -> float:
        control.write_text("1")
        try:
            time.sleep(FREEZE_FOR)
        finally:
            control.write_text("0")
        return time.monotonic()

    return fault


def trial(sandbox: Sandbox, sync: bool) -> dict[str, Any]:
    node_of = {name: node for name, (node, _) in MEMBERS.items()}
    primary = wait_healthy(sync)
    ddl = (
        "CREATE TABLE IF NOT EXISTS fencing_probe (writer text, seq int); "
        "GRANT ALL ON fencing_probe TO test; TRUNCATE fencing_probe"
    )
    done = sandbox.run(node_of[primary], *PSQL, "-c", ddl)
    if done.returncode:
        raise SystemExit(done.stderr)
    other = next(ip for name, (_, ip) in MEMBERS.items() if name != primary)
    writers = [
        Writer("own 5433", MEMBERS[primary][1], 5433),
        Writer("VIP 5433", VIP, 5433),
        Writer("VIP 5432", VIP, 5432),
        Writer("replica 5433", other, 5433),
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=w.loop, args=(stop,)) for w in writers]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        thawed = freeze(node_of[primary])()
        time.sleep(SETTLE)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    new_primary = wait_healthy(sync)
    rows = sandbox.run(node_of[new_primary], *PSQL, "-Atc", "SELECT writer || '|' || seq FROM fencing_probe")
    seen = {tuple(line.split("|")) for line in rows.stdout.split("\n") if line}
    result: dict[str, Any] = {"primary": primary, "new_primary": new_primary, "writers": {}}
    for w in writers:
        lost = [seq for _, seq in w.acked if (w.name, str(seq)) not in seen]
        after_thaw = [seq for t, seq in w.acked if t >= thawed]
        first_after = min((t for t, _ in w.acked if t >= thawed), default=None)
        result["writers"][w.name] = {
            "sent": w.sent,
            "acked": len(w.acked),
            "acked_after_thaw": len(after_thaw),
            "first_ack_after_thaw_s": None if first_after is None else round(first_after - thawed, 2),
            "lost": len(lost),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-fencing", description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", default=["async", "sync"], choices=sorted(MODES))
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args(argv)
    sb.down()
    report: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        sandbox.ensure_up()
        try:
            for mods in ("pigsty.infra", "pigsty.node"):
                run = run_orch(sandbox, mods, pillar=None if mods == "pigsty.infra" else '{"pg_cluster": "pg-test"}')
                if not run.ok:
                    print(f"{mods} failed: {run.failed}", file=sys.stderr)
                    return 1
            for mode in args.modes:
                inventory = Path(tmp) / "pigsty.yml"
                inventory.write_text(inventory_for(mode))
                build(inventory, sandbox.inventory_dir)
                run = run_orch(sandbox, "pigsty.cluster", pillar=json.dumps({"pg_cluster": CLUSTER}))
                if not run.ok:
                    print(f"pigsty.cluster ({mode}) failed: {run.failed}", file=sys.stderr)
                    return 1
                for n in range(1, args.trials + 1):
                    result = trial(sandbox, sync=mode.startswith("sync"))
                    line = f"{mode:14} trial {n}: {result['primary']} -> {result['new_primary']}  " + "  ".join(
                        f"[{name}: acked {w['acked']}/{w['sent']}, after thaw {w['acked_after_thaw']}"
                        f" (first {w['first_ack_after_thaw_s']} s), lost {w['lost']}]"
                        for name, w in result["writers"].items()
                    )
                    print(line, flush=True)
                    report.append(line)
        finally:
            sb.down()
    print(f"freeze {FREEZE_FOR:g} s of the primary's node; writers: new connection per write, 1 s deadlines, 10/s")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
