"""``pigsalt deploy``: the orchestrations, step by step, with progress and a summary."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

import pigsalt.sandbox as sb
from pigsalt import orch
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError

EPILOG = """Examples:

\b
  pigsalt deploy                        # on the Salt master: infra, nodes, every cluster
  pigsalt deploy --cluster pg-test      # one cluster (pigsty.cluster)
  pigsalt deploy --cluster pg-test --dry-run   # exit 1 if anything would change
  pigsalt deploy --sandbox              # through the sandbox's master, from this machine
"""


def _sandbox_runner(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    done = sb.master_run(argv, timeout)
    return done.returncode, done.stdout, done.stderr


def _clusters(runner: orch.Runner) -> list[str]:
    code, out, err = runner(["salt-run", "--out=json", "pigsalt.clusters"], 120)
    try:
        found = json.loads(out)
    except json.JSONDecodeError:
        found = None
    if code != 0 or not isinstance(found, dict):
        raise PigsaltError(f"salt-run pigsalt.clusters failed: {(err or out).strip()[-300:]}")
    return sorted(found)


@click.command(epilog=EPILOG)
@click.option("--cluster", "cluster", metavar="NAME", help="Deploy this cluster only (pigsty.cluster).")
@click.option("--dry-run", is_flag=True, help="Run with test=True: change nothing, exit 1 if anything would change.")
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Run salt-run in the sandbox's master node.")
def deploy(cluster: str | None, dry_run: bool, in_sandbox: bool) -> None:
    """Run pigsty.infra, pigsty.node and pigsty.cluster for every cluster (or one cluster),
    stopping at the first failed step and naming the node and the cause."""
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    if cluster:
        steps: list[tuple[str, dict[str, str] | None]] = [("pigsty.cluster", {"pg_cluster": cluster})]
    else:
        steps = [("pigsty.infra", None), ("pigsty.node", None)]
        steps += [("pigsty.cluster", {"pg_cluster": name}) for name in _clusters(runner)]
    changed_total = 0
    with StepDisplay() as display:
        for mods, pillar in steps:
            label = mods + (f" {pillar['pg_cluster']}" if pillar else "")
            display(f"{label}{' (dry run)' if dry_run else ''}")
            result = orch.run(runner, mods, pillar, test=dry_run)
            if not result.ok:
                display(f"{label}: FAILED after {result.seconds:.1f} s")
                for line in result.failed:
                    click.echo(f"  {line}", err=True)
                raise PigsaltError(f"{label} failed ({len(result.failed)} failed states)")
            changed_total += len(result.changed)
            verb = "would change" if dry_run else "changed"
            display(f"{label}: ok in {result.seconds:.1f} s, {len(result.changed)} states {verb}")
            for line in result.changed if dry_run else []:
                click.echo(f"  would change: {line}", err=True)
        elapsed = display.elapsed
    click.echo(f"deployed in {elapsed:.1f} s: {changed_total} states {'would change' if dry_run else 'changed'}")
    if dry_run and changed_total:
        raise SystemExit(1)
