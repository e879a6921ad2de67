"""``pigsalt backup``: take a cluster's backup now, or list what its repository holds.

Both go through the Salt master: the members' ``pgbackrest`` execution module, which backs up
on the Patroni leader (every member is asked; only the leader acts) and reads the repository
on any member.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from pigsalt import orch
from pigsalt.backup import info as binfo
from pigsalt.cli.deploy import _cluster_members, _sandbox_runner
from pigsalt.cli.options import json_option
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError

EPILOG = """Examples:

\b
  pigsalt backup pg-test                 # a full backup now, on pg-test's primary
  pigsalt backup pg-test --type incr     # what changed since the last backup
  pigsalt backup list                    # every cluster's backups and restorable window
  pigsalt backup list pg-test --json
"""

BACKUP_TIMEOUT = 6 * 3600


class _ClusterOrCommand(click.Group):
    """``pigsalt backup CLUSTER`` takes a backup (the ``take`` command); a word that names a
    command of the group (``list``) runs that command instead."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "take", self.commands["take"], args
        return super().resolve_command(ctx, args)


def _runner(in_sandbox: bool) -> orch.Runner:
    return _sandbox_runner if in_sandbox else orch.local_runner


def _members(runner: orch.Runner, cluster: str | None) -> dict[str, list[str]]:
    clusters = _cluster_members(runner)
    if cluster is not None and cluster not in clusters:
        raise PigsaltError(f"cluster {cluster!r} is not in the inventory ({', '.join(sorted(clusters))})")
    return {name: members for name, members in clusters.items() if cluster is None or name == cluster}


def _salt(runner: orch.Runner, minions: list[str], *call: str, timeout: float = 120) -> dict[str, Any]:
    """``salt -L MINIONS CALL`` through the master: each minion's return (errors as strings)."""
    argv = ["salt", "-L", ",".join(minions), *call, "--out=json", "--static", f"--timeout={int(timeout)}"]
    _, out, err = runner(argv, timeout + 60)
    try:
        found = json.loads(out) if out.strip() else {}
    except json.JSONDecodeError:
        found = {}
    if not isinstance(found, dict) or not found:
        raise PigsaltError(f"salt {call[0]} on {', '.join(minions)}: no answer ({(err or out).strip()[-200:]})")
    return found


@click.group(cls=_ClusterOrCommand, epilog=EPILOG, invoke_without_command=False)
def backup() -> None:
    """Backups with pgBackRest: `pigsalt backup CLUSTER` takes one now, `pigsalt backup list`
    shows what the repository holds (docs/backup.md)."""


@backup.command("take", epilog=EPILOG)
@click.argument("cluster")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["full", "diff", "incr"]),
    default="full",
    show_default=True,
    help="full: everything; diff: what changed since the last full; incr: since the last backup.",
)
@json_option
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Through the sandbox's master.")
def take(cluster: str, kind: str, as_json: bool, in_sandbox: bool) -> None:
    """Take a backup of CLUSTER now, on the member Patroni says leads."""
    runner = _runner(in_sandbox)
    members = _members(runner, cluster)[cluster]
    with StepDisplay() as display:
        display(f"{cluster}: {kind} backup on its primary")
        found = _salt(runner, members, "pgbackrest.backup", f"type={kind}", timeout=BACKUP_TIMEOUT)
    taken = {m: r for m, r in found.items() if isinstance(r, dict) and r.get("leader")}
    if not taken:
        errors = [f"{m}: {str(r).strip().splitlines()[-1]}" for m, r in found.items() if not isinstance(r, dict)]
        raise PigsaltError(f"{cluster}: no backup taken: {'; '.join(errors) or 'no member is the Patroni leader'}")
    minion, result = next(iter(taken.items()))
    made = result["backup"]
    size = (made.get("info") or {}).get("size", 0)
    stored = ((made.get("info") or {}).get("repository") or {}).get("size")
    if as_json:
        click.echo(json.dumps({"cluster": cluster, "node": minion, "seconds": result["seconds"], "backup": made}))
        return
    in_repo = f", {binfo.human_size(stored)} in the repository" if stored is not None else ""
    click.echo(
        f"{cluster}: {made.get('type')} backup {made.get('label')} on {minion} in {result['seconds']:.1f} s: "
        f"{binfo.human_size(size)}{in_repo}"
    )


def _latest_archived(found: dict[str, Any]) -> datetime | None:
    """The primary's last archived WAL time, from the members' archiver answers."""
    for answer in found.values():
        if isinstance(answer, dict) and not answer.get("replica") and answer.get("last_archived_time"):
            return datetime.fromisoformat(str(answer["last_archived_time"]).replace("Z", "+00:00"))
    return None


@backup.command("list", epilog=EPILOG)
@click.argument("cluster", required=False)
@json_option
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Through the sandbox's master.")
def list_(cluster: str | None, as_json: bool, in_sandbox: bool) -> None:
    """Each backup of CLUSTER (or of every cluster): type, start, duration, size, WAL range; and
    the window a point-in-time restore can reach."""
    runner = _runner(in_sandbox)
    stanzas, archived = [], {}
    for name, members in sorted(_members(runner, cluster).items()):
        answers = _salt(runner, members, "pgbackrest.info")
        entry = next((a for a in answers.values() if isinstance(a, dict)), None)
        if entry is None:
            why = str(next(iter(answers.values()))).strip().splitlines()[-1].removeprefix("ERROR: ")
            click.echo(f"{name}: {why.replace('this node is not backed up', 'not backed up')}", err=True)
            continue
        stanzas += binfo.parse(json.dumps([entry]))
        archived[name] = _latest_archived(_salt(runner, members, "pgbackrest.archiver"))
    if as_json:
        click.echo(json.dumps(binfo.rows(stanzas, archived), indent=2))
        return
    click.echo(binfo.render(stanzas, archived))
