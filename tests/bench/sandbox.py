"""Benchmark: ``pigsalt sandbox up`` and ``down`` as a user runs them (image and repository cached).

Run as root from the project: ``python -m tests.bench.sandbox [--runs 3]``. Each run is
``pigsalt sandbox down`` then ``pigsalt sandbox up`` of ./pigsty.yml (``pigsalt init`` writes it
when missing), as commands, as ``make demo`` runs them: the wall time of each, the
figure ``up`` prints itself ("sandbox up in N s"), which must agree with it, and the memory of
the whole sandbox (every node's cgroup plus the repository server) once every minion answers.
A first up/down builds whatever is missing and is not counted.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pigsalt.sandbox as sb
from pigsalt.sandbox.system import cgroup_memory

TARGET_UP = 30.0
TARGET_DOWN = 10.0
TARGET_MEMORY = 2**30
PIGSALT = str(Path(sys.executable).parent / "pigsalt")
PRINTED = re.compile(r"^sandbox up in (?P<seconds>[0-9.]+) s", re.MULTILINE)


def sandbox_memory(layout: sb.Layout) -> int:
    return sum(cgroup_memory(group) or 0 for group in (*layout.names, "http"))


def timed(*args: str) -> tuple[float, str]:
    """Run ``pigsalt ARGS``; its wall time and output. Exits the benchmark if it fails."""
    start = time.monotonic()
    done = subprocess.run([PIGSALT, *args], capture_output=True, text=True, check=False, timeout=1800)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"pigsalt {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return seconds, done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    layout = sb.DEFAULT_LAYOUT
    if not Path("pigsty.yml").is_file():
        timed("init")
    print("warm-up: down, up (builds what is missing), not counted", flush=True)
    timed("sandbox", "down")
    timed("sandbox", "up")
    ups: list[float] = []
    printed: list[float] = []
    downs: list[float] = []
    memories: list[int] = []
    for run in range(1, args.runs + 1):
        seconds, _ = timed("sandbox", "down")
        downs.append(seconds)
        seconds, output = timed("sandbox", "up")
        found = PRINTED.search(output)
        if found is None:
            sys.exit(f"`pigsalt sandbox up` printed no duration: {output[-400:]}")
        ups.append(seconds)
        printed.append(float(found["seconds"]))
        memories.append(sandbox_memory(layout))
        print(
            f"run {run}: down {downs[-1]:.1f} s, up {ups[-1]:.1f} s (it printed {printed[-1]:.1f} s), "
            f"memory {memories[-1] / 2**20:.0f} MiB",
            flush=True,
        )
    timed("sandbox", "down")
    up_s, said, down_s = statistics.median(ups), statistics.median(printed), statistics.median(downs)
    memory = statistics.median(memories)
    print(f"sandbox ({len(layout.nodes)} nodes), median of {args.runs}:")
    print(f"  up   {up_s:6.1f} s wall, {said:.1f} s as `up` prints it   (target < {TARGET_UP:.0f} s)")
    print(f"  down {down_s:6.1f} s   (target < {TARGET_DOWN:.0f} s)")
    print(f"  memory {memory / 2**20:4.0f} MiB (target < {TARGET_MEMORY / 2**20:.0f} MiB)")
    return 0 if up_s < TARGET_UP and down_s < TARGET_DOWN and memory < TARGET_MEMORY else 1


if __name__ == "__main__":
    sys.exit(main())
