"""make bench-cluster: pigsty.cluster for pg-test (3 nodes) and its rerun, then pgbench.

From a fresh sandbox with pigsty.infra and pigsty.node done (not timed), pg-test is deployed
and deployed again (no change expected). Then pgbench, run on node-3 (the offline instance:
pgbench ships in Debian's postgresql-15, which only the members have; all four nodes share
this machine's two cores anyway), against the primary through HAProxy's primary service (node-1:5433 -> Pgbouncer) and
directly (node-1:5432): select-only and tpcb-like with persistent connections, and both again
with a new connection per transaction (-C). Targets (issue #5): cluster under 2 minutes, rerun
under 30 s, 5433 at >= 0.8 of direct TPS with persistent connections, >= 2x with -C.

Every process here shares the machine's two cores, so each pgbench row also reports where the
CPU went, in microseconds per transaction: pgbench (this process's children), HAProxy, Pgbouncer
and Postgres (with Patroni: its unit's cgroup), each summed over the nodes. With the
cores saturated, TPS is the inverse of that total: the ratio a path can reach is bounded by
``direct total / path total``, printed as the "CPU ceiling".
"""

from __future__ import annotations

import json
import re
import resource
import sys
import tempfile
from pathlib import Path

import pigsalt.sandbox as sb
from pigsalt.sandbox import system
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import run_orch

PRIMARY = "10.10.10.11"
CLIENT = "node-3"
SECONDS = 30
CLIENTS = 8
SCALE = 10
MODES = (("select-only", ["-S"]), ("tpcb-like", []))
# systemd unit of each server process kind, in every node (patroni.service holds Postgres too).
SERVERS = {"haproxy": "haproxy", "pgbouncer": "pgbouncer", "postgres": "patroni"}
UNIFIED = system.CGROUP_ROOT / "unified" / system.CGROUP_NAME


def server_cpu() -> dict[str, float]:
    """CPU seconds used so far by each unit in SERVERS, summed over the nodes.

    cgroup v2 ``cpu.stat`` counts every process the unit ever ran (exited backends too) with no
    race against exiting processes, unlike summing ``/proc/*/stat``.
    """
    used = dict.fromkeys(SERVERS, 0.0)
    for name, unit in SERVERS.items():
        for stat in UNIFIED.glob(f"*/payload/system.slice/{unit}.service/cpu.stat"):
            fields = dict(line.split() for line in stat.read_text().splitlines())
            used[name] += int(fields["usage_usec"]) / 1e6
    return used


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pgbench(sandbox: Sandbox, *args: str, timeout: float = 300) -> str:
    env = {"PGPASSWORD": "test", "PGUSER": "test", "PGDATABASE": "test"}
    done = sandbox.run(CLIENT, "/usr/lib/postgresql/15/bin/pgbench", *args, env=env, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"pgbench {' '.join(args)} failed: {done.stderr[-800:]}")
    return done.stdout


def measured(sandbox: Sandbox, *args: str) -> tuple[float, dict[str, float]]:
    """TPS of one pgbench run and the CPU microseconds per transaction of each process kind."""
    servers, client = server_cpu(), client_cpu()
    output = pgbench(sandbox, *args)
    after = server_cpu()
    spent = {name: after[name] - servers[name] for name in SERVERS}
    found = re.search(r"number of transactions actually processed: (\d+)", output)
    count = int(found.group(1)) if found else 0
    if not count:
        raise SystemExit(f"no transaction count in pgbench output: {output[-500:]}")
    micros = {"pgbench": client_cpu() - client, **{name: spent[name] for name in SERVERS}}
    return tps(output), {name: seconds * 1e6 / count for name, seconds in micros.items()}


def cpu_row(label: str, rate: float, micros: dict[str, float]) -> str:
    parts = "  ".join(f"{name} {value:7.1f}" for name, value in micros.items() if value >= 0.05)
    return f"  {label:12} {rate:9.1f} tps   CPU us/txn: {parts}   total {sum(micros.values()):7.1f}"


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
                    paths = {
                        label: measured(sandbox, "-h", PRIMARY, "-p", port, *run_args)
                        for label, port in (("5433", "5433"), ("6432", "6432"), ("direct 5432", "5432"))
                    }
                    (via, via_cpu), (direct, direct_cpu) = paths["5433"], paths["direct 5432"]
                    ceiling = sum(direct_cpu.values()) / sum(via_cpu.values())
                    rows.append(
                        f"pgbench {name}{' -C' if new_conn else ''}: ratio 5433/direct {via / direct:5.2f}"
                        f" (CPU ceiling {ceiling:4.2f})"
                    )
                    rows.extend(cpu_row(label, rate, micros) for label, (rate, micros) in paths.items())
                    print("\n".join(rows[-4:]), flush=True)
        finally:
            sb.down()
    print(f"pgbench: {CLIENTS} clients, 2 threads, {SECONDS} s each, scale {SCALE}, run on {CLIENT}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
