"""Running pigsalt's orchestrations through ``salt-run`` and reading what they did.

``salt-run --out=json state.orch`` prints one document for the whole run: the runner's steps,
each ``salt.state`` step holding every minion's state returns, and nested orchestrations
(``salt.runner state.orchestrate``) holding their own steps. ``parse`` walks all of it into the
states that changed something and the ones that failed, with their comments.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Runs a command where salt-run is (the master): argv in, (exit code, stdout, stderr) out.
Runner = Callable[[Sequence[str], float], tuple[int, str, str]]


@dataclass(frozen=True)
class OrchRun:
    """One ``salt-run state.orch``: success, wall time, what changed, what failed."""

    ok: bool
    seconds: float
    changed: list[str]
    failed: list[str]
    raw: str


def _walk(steps: dict[str, Any], changed: list[str], failed: list[str], prefix: str = "") -> None:
    for step_id, step in steps.items():
        if not isinstance(step, dict):
            continue
        label = f"{prefix}{step_id.split('_|-')[1] if '_|-' in step_id else step_id}"
        if step.get("result") is False:
            failed.append(f"{label}: {step.get('comment', '')}"[:400])
        ret = (step.get("changes") or {}).get("ret")
        if isinstance(ret, dict):  # salt.state: per minion, per state
            for minion, states in ret.items():
                if not isinstance(states, dict) or not states:
                    if step.get("result") is False:  # a render error, or nothing rendered
                        failed.append(f"{label} {minion}: {states or 'no state rendered'}"[:400])
                    continue
                for state_id, state in states.items():
                    if not isinstance(state, dict):
                        continue
                    name = state_id.split("_|-")[1] if "_|-" in state_id else state_id
                    if state.get("changes"):
                        changed.append(f"{label} {minion} {name}")
                    if state.get("result") is False:
                        failed.append(f"{label} {minion} {name}: {state.get('comment', '')}"[:400])
        nested = (step.get("changes") or {}).get("return", {})
        if isinstance(nested, dict) and "data" in nested:
            for data in nested["data"].values():
                _walk(data, changed, failed, prefix=f"{label} > ")


def parse(stdout: str, stderr: str, returncode: int, seconds: float) -> OrchRun:
    """What one ``salt-run --out=json state.orch`` did."""
    changed: list[str] = []
    failed: list[str] = []
    try:
        doc = json.loads(stdout)
        for data in (doc.get("data") or {}).values():
            _walk(data, changed, failed)
    except (json.JSONDecodeError, AttributeError):
        failed.append(f"no JSON from salt-run: {stdout[-800:]} {stderr[-800:]}".strip())
    return OrchRun(returncode == 0 and not failed, seconds, changed, failed, stdout)


def orch_argv(mods: str, pillar: dict[str, Any] | None = None, test: bool = False) -> list[str]:
    argv = ["salt-run", "--out=json", "state.orch", mods]
    if pillar:
        argv.append(f"pillar={json.dumps(pillar)}")
    if test:
        argv.append("test=True")
    return argv


def run(
    runner: Runner, mods: str, pillar: dict[str, Any] | None = None, test: bool = False, timeout: float = 1800
) -> OrchRun:
    """Run one orchestration through ``runner`` and parse its result."""
    start = time.monotonic()
    code, out, err = runner(orch_argv(mods, pillar, test), timeout)
    return parse(out, err, code, time.monotonic() - start)


def local_runner(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    """Run on this machine (the Salt master)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: not found (run pigsalt deploy on the Salt master, or use --sandbox)"
    except subprocess.TimeoutExpired:
        return 124, "", f"{' '.join(argv[:4])}: no result after {timeout:.0f} s"
    return done.returncode, done.stdout, done.stderr
