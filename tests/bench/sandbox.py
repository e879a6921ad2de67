"""Benchmark: cold ``pigsalt sandbox up`` (image cached) until every minion answers, and ``down``.

Run as root: ``python -m tests.bench.sandbox [--runs 3]``. Prints the median of each
and the memory of the whole sandbox (working set of every node's cgroup plus the
repository server), measured once all minions answer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import pigsalt.sandbox as sb
from pigsalt.errors import PigsaltError
from pigsalt.sandbox.system import cgroup_memory

TARGET_UP = 30.0
TARGET_DOWN = 10.0
TARGET_MEMORY = 2**30


def sandbox_memory(layout: sb.Layout) -> int:
    return sum(cgroup_memory(group) or 0 for group in (*layout.names, "http"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    layout = sb.DEFAULT_LAYOUT
    try:
        sb.down()
        # Warm-up: builds the image and the repository if they are missing; not measured.
        print("warm-up: up (builds what is missing) and down", flush=True)
        sb.up(layout)
        sb.down()
        ups: list[float] = []
        downs: list[float] = []
        memories: list[int] = []
        for run in range(1, args.runs + 1):
            start = time.monotonic()
            result = sb.up(layout)
            ups.append(time.monotonic() - start)
            assert not result.already_up
            time.sleep(2)  # let the minions settle after their first answer
            memories.append(sandbox_memory(layout))
            start = time.monotonic()
            problems = sb.down()
            downs.append(time.monotonic() - start)
            if problems:
                raise PigsaltError("down left: " + "; ".join(problems))
            print(
                f"run {run}: up {ups[-1]:.1f} s, down {downs[-1]:.1f} s, memory {memories[-1] / 2**20:.0f} MiB",
                flush=True,
            )
    except PigsaltError as err:
        print(f"error: {err.message}", file=sys.stderr)
        sb.down()
        return 2
    up_s, down_s, memory = statistics.median(ups), statistics.median(downs), statistics.median(memories)
    print(f"sandbox ({len(layout.nodes)} nodes), median of {args.runs}:")
    print(f"  up   {up_s:6.1f} s   (target < {TARGET_UP:.0f} s)")
    print(f"  down {down_s:6.1f} s   (target < {TARGET_DOWN:.0f} s)")
    print(f"  memory {memory / 2**20:4.0f} MiB (target < {TARGET_MEMORY / 2**20:.0f} MiB)")
    ok = up_s < TARGET_UP and down_s < TARGET_DOWN and memory < TARGET_MEMORY
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
