"""Running pigsalt's orchestrations through ``salt-run`` and reading what they did.

``salt-run --out=json state.orch`` prints one document for the whole run: the runner's steps,
each ``salt.state`` step holding every minion's state returns, and nested orchestrations
(``salt.runner state.orchestrate``) holding their own steps. ``parse`` walks all of it into the
states that changed something and the ones that failed, with their comments.

``pigsalt deploy`` learns that nothing needs doing from the ``pigsalt.deploy_check`` runner
(``parse_returns`` reads its answer); ``check`` asks the same of some nodes' formulas through
``salt`` (one ``state.sls … test=True`` per group of nodes, all at once), after a step changed
something.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# Runs a command where salt-run is (the master): argv in, (exit code, stdout, stderr) out.
Runner = Callable[[Sequence[str], float], tuple[int, str, str]]


@dataclass(frozen=True)
class OrchRun:
    """One ``salt-run state.orch``: success, wall time, what changed, what failed (a check also
    says, for each state that would change, its minion and the SLS file it comes from)."""

    ok: bool
    seconds: float
    changed: list[str]
    failed: list[str]
    raw: str
    changed_sls: list[tuple[str, str]] = field(default_factory=list)


def _read_states(
    prefix: str,
    states: dict[str, Any],
    changed: list[str],
    failed: list[str],
    test: bool = False,
    changed_sls: list[tuple[str, str]] | None = None,
) -> None:
    """One minion's state returns: what changed (under ``test``, what would: result None) and
    what failed, each as ``<prefix> <state id>``; ``changed_sls`` gets (prefix, SLS) of each change."""
    for state_id, state in states.items():
        if not isinstance(state, dict):
            continue
        name = state_id.split("_|-")[1] if "_|-" in state_id else state_id
        if state.get("result") is False:
            failed.append(f"{prefix} {name}: {state.get('comment', '')}"[:400])
        if state.get("changes") or (test and state.get("result") is None):
            changed.append(f"{prefix} {name}")
            if changed_sls is not None:
                changed_sls.append((prefix, str(state.get("__sls__") or "")))


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
                _read_states(f"{label} {minion}", states, changed, failed)
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


def notes(run: OrchRun) -> list[str]:
    """The one-line notes the states left for the user (``test.show_notification``, e.g. what a
    deployment skipped and why), each as ``<minion>: <note>``, once each, in order."""
    found: dict[str, None] = {}

    def walk(node: Any, minion: str | None) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("test_|-") and key.endswith("_|-show_notification"):
                if isinstance(value, dict) and value.get("comment"):
                    found[f"{minion}: {value['comment']}" if minion else str(value["comment"])] = None
                continue
            if key == "ret" and isinstance(value, dict):  # salt.state: per minion
                for who, states in value.items():
                    walk(states, str(who))
                continue
            walk(value, minion)

    try:
        walk(json.loads(run.raw), None)
    except json.JSONDecodeError:
        return []
    return list(found)


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


# --- the check: every node's formulas under test=True, at once --------------------------------


def check_argv(minions: Sequence[str], mods: Sequence[str], timeout: int = 600) -> list[str]:
    return [
        "salt",
        "--out=json",
        "--static",
        f"--timeout={timeout}",
        "-L",
        ",".join(minions),
        "state.sls",
        ",".join(mods),
        "test=True",
    ]


def parse_check(stdout: str, stderr: str, minions: Sequence[str], seconds: float) -> OrchRun:
    """What ``salt --static state.sls … test=True`` says would change or fails, by minion."""
    try:
        doc = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return OrchRun(False, seconds, [], [f"no JSON from salt: {stdout[-800:]} {stderr[-800:]}".strip()], stdout)
    return parse_returns(doc, minions, seconds, stdout)


def parse_returns(doc: Mapping[str, Any], minions: Sequence[str], seconds: float, raw: str = "") -> OrchRun:
    """What each minion's ``state.sls … test=True`` return ({minion: states}) says would change
    or fails.

    A state that would change (``result`` None, or changes listed) counts as a change, and so
    does a check that could not tell yet; a minion that did not answer, or whose formulas did
    not render, is a failure."""
    changed: list[str] = []
    failed: list[str] = []
    changed_sls: list[tuple[str, str]] = []
    for minion in minions:
        states = doc.get(minion)
        if not isinstance(states, dict) or not states:
            said = "; ".join(map(str, states)) if isinstance(states, list) else states
            failed.append(f"{minion}: {said or 'did not return'}"[:400])
            continue
        _read_states(minion, states, changed, failed, test=True, changed_sls=changed_sls)
    return OrchRun(not failed, seconds, changed, failed, raw, changed_sls)


def group_by_formulas(plan: Mapping[str, Sequence[str]]) -> dict[tuple[str, ...], list[str]]:
    """The minions of ``plan`` ({minion: [sls, …]}) grouped by their formulas: one job each."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for minion, mods in sorted(plan.items()):
        groups.setdefault(tuple(mods), []).append(minion)
    return groups


def check(runner: Runner, plan: Mapping[str, Sequence[str]], timeout: int = 600) -> OrchRun:
    """Every node's formulas of ``plan`` ({minion: [sls, …]}) under ``test=True``: one
    ``state.sls`` per group of nodes with the same formulas, the groups side by side."""
    groups = group_by_formulas(plan)
    start = time.monotonic()

    def one(mods: tuple[str, ...], minions: list[str]) -> OrchRun:
        _code, out, err = runner(check_argv(minions, mods, timeout), timeout + 60)
        return parse_check(out, err, minions, time.monotonic() - start)

    with ThreadPoolExecutor(max_workers=max(1, len(groups))) as pool:
        runs = list(pool.map(lambda item: one(*item), groups.items()))
    return OrchRun(
        all(r.ok for r in runs),
        time.monotonic() - start,
        [line for r in runs for line in r.changed],
        [line for r in runs for line in r.failed],
        "\n".join(r.raw for r in runs),
        [pair for r in runs for pair in r.changed_sls],
    )
