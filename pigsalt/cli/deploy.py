"""``pigsalt deploy``: a check of every node, then (if needed) the orchestrations, with progress."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import click

import pigsalt.sandbox as sb
from pigsalt import orch, plan
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError

EPILOG = """Examples:

\b
  pigsalt deploy                        # on the Salt master: infra, nodes, every cluster at once
  pigsalt deploy --cluster pg-test      # one cluster (pigsty.cluster)
  pigsalt deploy --cluster pg-test --dry-run   # check only: exit 1 if anything would change
  pigsalt deploy --sandbox              # through the sandbox's master, from this machine
"""


def _sandbox_runner(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    done = sb.master_run(argv, timeout)
    return done.returncode, done.stdout, done.stderr


def _runner_json(runner: orch.Runner, argv: list[str]) -> dict[str, Any]:
    code, out, err = runner(argv, 120)
    try:
        found = json.loads(out)
    except json.JSONDecodeError:
        found = None
    if code != 0 or not isinstance(found, dict):
        detail = (err or out).strip()[-300:]
        raise PigsaltError(f"{' '.join(a for a in argv if not a.startswith('--'))} failed: {detail}")
    return found


def _cluster_members(runner: orch.Runner) -> dict[str, list[str]]:
    """Each cluster's members' minion ids (the ``pigsalt.clusters`` runner)."""
    found = _runner_json(runner, ["salt-run", "--out=json", "pigsalt.clusters"])
    return {name: [spec["primary"], *spec.get("replicas", [])] for name, spec in sorted(found.items())}


def _label(mods: str, pillar: dict[str, str] | None) -> str:
    return mods + (f" {pillar['pg_cluster']}" if pillar else "")


@click.command(epilog=EPILOG)
@click.option("--cluster", "cluster", metavar="NAME", help="Deploy this cluster only (pigsty.cluster).")
@click.option(
    "--dry-run", is_flag=True, help="Only check with test=True: change nothing, exit 1 if anything would change."
)
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Run salt-run in the sandbox's master node.")
@click.option(
    "--allow-published-passwords",
    is_flag=True,
    help="Deploy even though the inventory sets a published default password (always allowed with --sandbox).",
)
def deploy(cluster: str | None, dry_run: bool, in_sandbox: bool, allow_published_passwords: bool) -> None:
    """Check every node's formulas with test=True (all nodes at once); if anything would change,
    run pigsty.infra, pigsty.node, then pigsty.cluster for every cluster at once (or for one
    cluster), stopping at the first failed step and naming the node and the cause.

    Clusters share no node, so their orchestrations run side by side; each one's result is
    printed when it ends."""
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    with StepDisplay() as display:
        display("check: every node's formulas with test=True" if dry_run else "check: the nodes, then their formulas")
        found = _deploy_check(runner, cluster, thorough=dry_run)
        _refuse_published_passwords(found.get("published") or [], allowed=in_sandbox or allow_published_passwords)
        checked, whole = _read_check(found, display)
        if not found.get("new"):
            summary = f"{len(checked.changed)} states would change, {len(checked.failed)} failed"
            display(f"check: {summary} ({checked.seconds:.1f} s)")
        if dry_run:
            for line in checked.changed:
                click.echo(f"  would change: {line}", err=True)
            for line in checked.failed:
                click.echo(f"  failed: {line}", err=True)
            if checked.failed:
                raise PigsaltError(f"the check failed ({len(checked.failed)} failed states)")
            elapsed = display.elapsed
            click.echo(f"checked in {elapsed:.1f} s: {len(checked.changed)} states would change")
            if checked.changed:
                raise SystemExit(1)
            return
        if checked.ok and not checked.changed:
            elapsed = display.elapsed
            click.echo(f"deployed in {elapsed:.1f} s: 0 states changed (the check found nothing to do)")
            return
        plan = {str(k): [str(m) for m in v] for k, v in found["formulas"].items()}
        # A failed check (a state that cannot be checked before an earlier step has run) tells
        # nothing about the steps: all of them run.
        selected = (plan, checked) if whole and checked.ok else None
        changed_total = _orchestrate(runner, cluster, display, selected)
        elapsed = display.elapsed
    click.echo(f"deployed in {elapsed:.1f} s: {changed_total} states changed")


def _deploy_check(runner: orch.Runner, cluster: str | None, thorough: bool) -> dict[str, Any]:
    """The ``pigsalt.deploy_check`` runner: published passwords, formulas and the check, in one
    ``salt-run``."""
    argv = ["salt-run", "--out=json", "pigsalt.deploy_check"]
    argv += [f"cluster={cluster}"] if cluster else []
    argv += ["thorough=True"] if thorough else []
    found = _runner_json(runner, argv)
    if not isinstance(found.get("formulas"), dict) or not isinstance(found.get("returns"), dict):
        raise PigsaltError(f"pigsalt.deploy_check answered without formulas or returns: {sorted(found)}")
    return found


def _refuse_published_passwords(paths: list[str], allowed: bool) -> None:
    """Published default passwords (Pigsty's DBUser.*, test, …) are a warning in the sandbox and
    with ``--allow-published-passwords``, and stop a deployment anywhere else."""
    if not paths:
        return
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    if allowed:
        click.echo(f"warning: {paths[0]}{more}: published default password", err=True)
        return
    raise PigsaltError(
        f"{paths[0]}{more}: a published default password; set your own in the inventory, "
        "or pass --allow-published-passwords"
    )


def _read_check(found: dict[str, Any], display: StepDisplay) -> tuple[orch.OrchRun, bool]:
    """What the check found, and whether it covered every formula. New nodes (never deployed:
    their formulas would all change) and a first formula that would change (a cluster's new
    member) end the check early: the orchestrations run anyway, and checking the rest would only
    cost time (~30 s on a fresh sandbox)."""
    seconds = float(found.get("seconds") or 0.0)
    formulas: dict[str, list[str]] = found["formulas"]
    if found.get("new"):
        new = [str(m) for m in found["new"]]
        display(f"check: {len(new)} of {len(formulas)} nodes never deployed ({', '.join(new)})")
        return orch.OrchRun(True, seconds, [f"{m}: never deployed" for m in new], [], ""), False
    if found.get("checked") == "first":
        display(f"check: the first formula of {len(formulas)} nodes would change")
        return orch.parse_returns(found["returns"], sorted(formulas), seconds), False
    return orch.parse_returns(found["returns"], sorted(formulas), seconds), True


def _orchestrate(
    runner: orch.Runner,
    cluster: str | None,
    display: StepDisplay,
    checked: tuple[dict[str, list[str]], orch.OrchRun] | None = None,
) -> int:
    """The orchestrations, stage by stage (``plan.deploy_stages``, as ``pigsty.deploy``); the
    number of states they changed.

    With the whole check (``checked``: the plan and what it found), a whole deployment runs only
    the steps whose formulas would change something, in their order: after a stage that changed
    something, the later stages are checked again (what it changed may be theirs to follow).
    A drifted file on one node costs pigsty.node, not every orchestration."""
    members = _cluster_members(runner) if cluster is None else {}
    steps = plan.deploy_stages(sorted(members), cluster)
    whole = checked[0] if checked is not None and cluster is None else None
    todo = plan.changed_steps(checked[1].changed_sls, steps, whole, members) if whole and checked else None
    changed_total = 0
    for index, stage_steps in enumerate(steps):
        run_now = [step for step in stage_steps if todo is None or step["id"] in todo]
        skipped = [_label(step["mods"], step["pillar"]) for step in stage_steps if step not in run_now]
        if skipped:
            display(f"{', '.join(skipped)}: skipped, the check found nothing to change")
        if not run_now:
            continue
        stage = [(step["mods"], step["pillar"]) for step in run_now]
        labels = [_label(mods, pillar) for mods, pillar in stage]
        display(", ".join(labels))
        with ThreadPoolExecutor(max_workers=len(stage)) as pool:
            futures = {
                pool.submit(orch.run, runner, mods, pillar): label
                for (mods, pillar), label in zip(stage, labels, strict=True)
            }
            results = {futures[f]: f.result() for f in as_completed(futures)}
        failed = [label for label in labels if not results[label].ok]
        for label in labels:
            result = results[label]
            if not result.ok:
                display(f"{label}: FAILED after {result.seconds:.1f} s")
                for line in result.failed:
                    click.echo(f"  {label}: {line}" if len(labels) > 1 else f"  {line}", err=True)
                continue
            changed_total += len(result.changed)
            display(f"{label}: ok in {result.seconds:.1f} s, {len(result.changed)} states changed")
            for note in orch.notes(result):
                click.echo(f"  note: {note}", err=True)
        if failed:
            count = sum(len(results[label].failed) for label in failed)
            raise PigsaltError(f"{', '.join(failed)} failed ({count} failed states)")
        later = plan.later_formulas(steps, index, whole, members) if whole else {}
        if whole and later and any(results[label].changed for label in labels):
            display(f"check: what follows {', '.join(labels)}, with test=True")
            again = orch.check(runner, later)
            if not again.ok:
                raise PigsaltError(f"the check failed ({len(again.failed)} failed states): {again.failed[0]}")
            todo = plan.changed_steps(again.changed_sls, steps[index + 1 :], whole, members)
    return changed_total
