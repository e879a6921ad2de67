"""make bench-monitoring: what monitoring costs and how fast it follows a role change.

From a fresh sandbox: pigsty.infra, pigsty.node, pigsty.cluster for pg-meta and pg-test (not
timed), then two minutes of scrapes. Reported, from Prometheus itself (asked through the portal,
Host p.pigsty):

- per exporter (job) and node: the last scrape's duration (``scrape_duration_seconds``) and the
  samples it brought (``scrape_samples_scraped``);
- Prometheus on meta: resident memory, CPU (rate over the last 2 minutes), head series;
- a role change to the labels following it, for SWITCHES switchovers of pg-test: from the
  moment Patroni lists the new leader (polled on its REST API from meta) to (a) the registration
  rewriting the new leader's target file on meta (the reactor's work) and (b) Prometheus'
  active targets carrying ``role="primary"`` for it (file discovery's refresh on top).
  Pigsty's figure to beat: one service-discovery interval plus a scrape (tens of seconds).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pigsalt.sandbox as sb
from tests.bench.failover import MEMBERS, cluster
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import run_orch

META = "10.10.10.10"
SWITCHES = 4
SCRAPE_WINDOW = 120.0
POLL = 0.25
TIMEOUT = 180.0


def api(path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(f"http://{META}/api/v1/{path}{query}", headers={"Host": "p.pigsty"})
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.load(answer)["data"]


def vector(expr: str) -> list[tuple[dict[str, str], float]]:
    return [(r["metric"], float(r["value"][1])) for r in api("query", query=expr)["result"]]


def leader() -> str | None:
    found = cluster()
    return next((m["name"] for m in found.get("members", []) if m.get("role") == "leader"), None)


def label_of(instance: str) -> str | None:
    for target in api("targets", state="active")["activeTargets"]:
        labels = target["labels"]
        if labels.get("job") == "pgsql" and labels.get("ins") == instance:
            return str(labels.get("role"))
    return None


def scrape_table() -> list[str]:
    durations = {(m["job"], m.get("ins", m.get("instance", "?"))): v for m, v in vector("scrape_duration_seconds")}
    samples = {(m["job"], m.get("ins", m.get("instance", "?"))): v for m, v in vector("scrape_samples_scraped")}
    lines = ["| job | ins | scrape duration (ms) | samples |", "|---|---|---:|---:|"]
    for key in sorted(durations):
        lines.append(f"| {key[0]} | {key[1]} | {durations[key] * 1000:.1f} | {samples.get(key, 0):.0f} |")
    by_job: dict[str, list[float]] = {}
    for (job, _), value in samples.items():
        by_job.setdefault(job, []).append(value)
    lines.append("")
    lines.append(
        "per job: " + ", ".join(f"{job} {statistics.mean(v):.0f} samples" for job, v in sorted(by_job.items()))
    )
    return lines


def prometheus_cost() -> str:
    rss = vector('process_resident_memory_bytes{job="prometheus"}')[0][1]
    cpu = vector('rate(process_cpu_seconds_total{job="prometheus"}[2m])')[0][1]
    series = vector("prometheus_tsdb_head_series")[0][1]
    return f"Prometheus on meta: RSS {rss / 2**20:.0f} MiB, CPU {cpu * 100:.1f} % of a core, {series:.0f} head series"


def switch(sandbox: Sandbox, old: str, new: str) -> tuple[float, float]:
    """Switch pg-test's leader from ``old`` to ``new``: seconds from Patroni listing ``new`` as
    leader to its target file saying primary, and to Prometheus' label saying so."""
    node = MEMBERS[old][0]
    path = f"/etc/prometheus/targets/pgsql/{new}.yml"
    done = sandbox.salt(node, "patroni.switchover", f"candidate={new}")
    if done.returncode != 0:
        raise SystemExit(f"switchover {old} -> {new}: {done.stdout} {done.stderr}")
    deadline = time.monotonic() + TIMEOUT
    while leader() != new:
        if time.monotonic() > deadline:
            raise SystemExit(f"{new} never led")
        time.sleep(POLL)
    led = time.monotonic()
    to_file = to_label = None
    while to_file is None or to_label is None:
        if time.monotonic() > led + TIMEOUT:
            raise SystemExit(f"labels did not follow {new} within {TIMEOUT:.0f} s")
        now = time.monotonic() - led
        if to_file is None and "role: primary" in sandbox.run("meta", "cat", path).stdout:
            to_file = now
        if to_label is None and label_of(new) == "primary":
            to_label = now
        time.sleep(POLL)
    return to_file, to_label


def main() -> int:
    sb.down()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        sandbox.ensure_up()
        try:
            for mods, pillar in (
                ("pigsty.infra", None),
                ("pigsty.node", None),
                ("pigsty.cluster", "pg-meta"),
                ("pigsty.cluster", "pg-test"),
            ):
                run = run_orch(sandbox, mods, pillar=json.dumps({"pg_cluster": pillar}) if pillar else None)
                if not run.ok:
                    print(f"{mods} failed: {run.failed}", file=sys.stderr)
                    return 1
            time.sleep(SCRAPE_WINDOW)
            print("\n".join(scrape_table()))
            print(prometheus_cost())
            first = leader()
            if first is None:
                raise SystemExit("pg-test has no leader")
            other = next(n for n in ("pg-test-1", "pg-test-2") if n != first)  # pg-test-3 is offline
            rows = []
            current, target = first, other
            for _ in range(SWITCHES):
                time.sleep(10)  # let the cluster settle between two switchovers
                rows.append(switch(sandbox, current, target))
                current, target = target, current
            files, labels = [r[0] for r in rows], [r[1] for r in rows]
            print(
                f"role change -> target file: {', '.join(f'{x:.1f}' for x in files)} s "
                f"(median {statistics.median(files):.1f}); -> Prometheus label: "
                f"{', '.join(f'{x:.1f}' for x in labels)} s (median {statistics.median(labels):.1f})"
            )
        finally:
            sb.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
