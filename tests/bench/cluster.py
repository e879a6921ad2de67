"""make bench-cluster: pigsty.cluster for pg-test (3 nodes) and its rerun, then pgbench.

From a fresh sandbox with pigsty.infra and pigsty.node done (not timed), pg-test is deployed
and deployed again (no change expected). Then pgbench, run on node-3 (the offline instance:
pgbench ships in Debian's postgresql-15, which only the members have; all four nodes share
this machine's two cores anyway), against the primary through HAProxy's primary service (node-1:5433 -> Pgbouncer) and
directly (node-1:5432): select-only and tpcb-like with persistent connections, and both again
with a new connection per transaction (-C). Targets (issue #5): cluster under 2 minutes, rerun
under 30 s, 5433 at >= 0.8 of direct TPS with persistent connections, >= 2x with -C.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import pigsalt.sandbox as sb
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import run_orch

PRIMARY = "10.10.10.11"
CLIENT = "node-3"
SECONDS = 30
CLIENTS = 8
SCALE = 10
MODES = (("select-only", ["-S"]), ("tpcb-like", []))


def pgbench(sandbox: Sandbox, *args: str, timeout: float = 300) -> str:
    env = {"PGPASSWORD": "test", "PGUSER": "test", "PGDATABASE": "test"}
    done = sandbox.run(CLIENT, "/usr/lib/postgresql/15/bin/pgbench", *args, env=env, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"pgbench {' '.join(args)} failed: {done.stderr[-800:]}")
    return done.stdout


def tps(output: str) -> float:
    # Persistent connections: "(without initial connection time)"; -C: "(including reconnection times)".
    found = re.search(r"tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)", output)
    if not found:
        raise SystemExit(f"no tps in pgbench output: {output[-500:]}")
    return float(found.group(1))


def main() -> int:
    sb.down()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        sandbox.ensure_up()
        try:
            rows = []
            for mods in ("pigsty.infra", "pigsty.node"):
                if not (run := run_orch(sandbox, mods)).ok:
                    print(f"{mods} failed: {run.failed}", file=sys.stderr)
                    return 1
            pillar = json.dumps({"pg_cluster": "pg-test"})
            for label in ("first run", "rerun"):
                run = run_orch(sandbox, "pigsty.cluster", pillar=pillar)
                if not run.ok:
                    print(f"pigsty.cluster ({label}) failed: {run.failed}", file=sys.stderr)
                    return 1
                rows.append(f"pigsty.cluster {label:9} {run.seconds:6.1f} s  ({len(run.changed)} states changed)")
                print(rows[-1], flush=True)
            pgbench(sandbox, "-h", PRIMARY, "-p", "5432", "-i", "-q", "-s", str(SCALE))
            for name, extra in MODES:
                for new_conn in (False, True):
                    flags = [*extra, *(["-C"] if new_conn else [])]
                    run_args = ["-c", str(CLIENTS), "-j", "2", "-T", str(SECONDS), "-n", *flags]
                    via = tps(pgbench(sandbox, "-h", PRIMARY, "-p", "5433", *run_args))
                    bouncer = tps(pgbench(sandbox, "-h", PRIMARY, "-p", "6432", *run_args))
                    direct = tps(pgbench(sandbox, "-h", PRIMARY, "-p", "5432", *run_args))
                    label = f"{name}{' -C' if new_conn else ''}"
                    rows.append(
                        f"pgbench {label:15} 5433 {via:9.1f} tps  pgbouncer 6432 {bouncer:9.1f} tps"
                        f"  direct 5432 {direct:9.1f} tps  ratio 5433/direct {via / direct:5.2f}"
                    )
                    print(rows[-1], flush=True)
        finally:
            sb.down()
    print(f"pgbench: {CLIENTS} clients, 2 threads, {SECONDS} s each, scale {SCALE}, run on {CLIENT}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
