"""Running orchestrations on the sandbox's master and reading their results."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from tests.e2e.conftest import Sandbox


@dataclass(frozen=True)
class OrchRun:
    """One ``salt-run state.orch``: success, wall time, and every state that changed something."""

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
                if isinstance(states, dict):
                    for state_id, state in states.items():
                        if isinstance(state, dict) and state.get("changes"):
                            changed.append(f"{label} {minion} {state_id.split('_|-')[1]}")
        nested = (step.get("changes") or {}).get("return", {})
        if isinstance(nested, dict) and "data" in nested:
            for data in nested["data"].values():
                _walk(data, changed, failed, prefix=f"{label} > ")


def run_orch(sandbox: Sandbox, mods: str, pillar: str | None = None, timeout: float = 900) -> OrchRun:
    args = ["salt-run", "--out=json", "state.orch", mods]
    if pillar:
        args.append(f"pillar={pillar}")
    start = time.monotonic()
    result = sandbox.run(sandbox.layout.master, *args, timeout=timeout)
    seconds = time.monotonic() - start
    changed: list[str] = []
    failed: list[str] = []
    try:
        doc = json.loads(result.stdout)
        for data in doc.get("data", {}).values():
            _walk(data, changed, failed)
    except json.JSONDecodeError:
        failed.append(f"no JSON from salt-run: {result.stdout[-800:]} {result.stderr[-800:]}")
    return OrchRun(result.returncode == 0 and not failed, seconds, changed, failed, result.stdout)
