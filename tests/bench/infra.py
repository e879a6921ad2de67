"""make bench-infra: wall time of pigsty.infra + pigsty.node on a fresh sandbox, and of the rerun.

The sandbox is brought up fresh (image and offline repository cached), the default inventory's
pillar built, then both orchestrations run through the master and run again. Targets (issue #4):
first run under 3 minutes, rerun under 30 s.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pigsalt.sandbox as sb
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import run_orch


def main() -> int:
    sb.down()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(sb.SandboxPaths(), Path(tmp))
        sandbox.ensure_up()
        try:
            rows = []
            for label in ("first run", "rerun"):
                total = 0.0
                for mods in ("pigsty.infra", "pigsty.node"):
                    run = run_orch(sandbox, mods)
                    if not run.ok:
                        print(f"{mods} failed: {run.failed}", file=sys.stderr)
                        return 1
                    total += run.seconds
                    rows.append(f"{label:9}  {mods:13} {run.seconds:6.1f} s  ({len(run.changed)} states changed)")
                rows.append(f"{label:9}  {'total':13} {total:6.1f} s")
        finally:
            sb.down()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
