"""``pigsalt restore``: a cluster back to a point in time from its pgBackRest repository.

The plan comes first, from what the repository holds (after a WAL switch, so that the window
reaches the moment of the call): the backup to start from, the WAL to replay, the member that is
restored and those cloned again. Then, after a typed confirmation, the ``pigsty.restore``
orchestration does it (docs/backup.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from pigsalt import orch
from pigsalt.backup import info as binfo
from pigsalt.cli.backup import _latest_archived, _members, _runner, _salt
from pigsalt.cli.options import json_option
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError

EPILOG = """Examples:

\b
  pigsalt restore pg-test --time '2026-12-07 10:00:00+01:00' --dry-run   # the plan, nothing changed
  pigsalt restore pg-test --time 2026-12-07T09:00:00Z     # asks for the cluster's name, then restores
  pigsalt restore pg-test --latest --yes                  # everything the archive holds (scripts)
  pigsalt restore pg-test --backup 20261207-093000F       # that backup, consistent and no further
"""

RESTORE_TIMEOUT = 6 * 3600


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PigsaltError(f"--time {text!r}: not an ISO 8601 time (2026-12-07 10:00:00+00:00)") from None
    if moment.tzinfo is None:
        raise PigsaltError(f"--time {text!r}: no time zone (add Z or +hh:mm)")
    return moment


def _pg_time(moment: datetime) -> str:
    """The target as Postgres reads ``recovery_target_time``: UTC, microseconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def plan(stanza: binfo.Stanza, archived: datetime | None, at: datetime | None, label: str | None) -> dict[str, Any]:
    """What a restore of ``stanza`` would do: its ``restore`` pillar (without the confirmation) and
    the words for a person. ``at`` (a time target), ``label`` (a backup target), neither (the
    latest). A ``PigsaltError`` naming the window for a target outside it."""
    span = binfo.window(stanza, archived)
    if at is not None:
        chosen = binfo.check_target(stanza, at, archived)
        pillar = {"type": "time", "target": _pg_time(at), "set": chosen.label}
        reach = f"to {at.astimezone(timezone.utc).isoformat()}"
    elif label is not None:
        chosen = binfo.find_backup(stanza, label)
        if chosen.error:
            raise PigsaltError(f"{stanza.name}'s backup {label} has errors (page checksums): restore another one")
        pillar = {"type": "backup", "set": chosen.label}
        reach = f"to the end of backup {label} ({chosen.stop.isoformat()})"
    else:
        good = [b for b in stanza.backups if not b.error]
        if not good:
            raise PigsaltError(f"{stanza.name} has no complete backup: nothing to restore from")
        chosen = good[-1]
        pillar = {"type": "latest", "set": chosen.label}
        latest = span.latest.isoformat() if span.latest else "?"
        reach = f"to the end of the archive (last archived {latest})"
    wal = f"WAL from {chosen.wal_start or '?'}" + (" on" if pillar["type"] != "backup" else f" to {chosen.wal_stop}")
    return {
        "restore": pillar,
        "backup": {"label": chosen.label, "type": chosen.type, "stop": chosen.stop.isoformat()},
        "window": {
            "earliest": span.earliest.isoformat() if span.earliest else None,
            "latest": span.latest.isoformat() if span.latest else None,
        },
        "says": f"{reach}, from {chosen.type} backup {chosen.label} (stopped {chosen.stop.isoformat()}), {wal}",
    }


@click.command(epilog=EPILOG)
@click.argument("cluster")
@click.option("--time", "at", metavar="TIME", help="Restore to this time (ISO 8601 with a zone).")
@click.option("--latest", is_flag=True, help="Restore everything the archive holds.")
@click.option("--backup", "label", metavar="LABEL", help="Restore this backup, consistent and no further.")
@click.option("--dry-run", is_flag=True, help="Say what would be done, which backup and WAL; change nothing.")
@click.option("--yes", is_flag=True, help="No question (scripts): the cluster's name is not asked for.")
@json_option
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Through the sandbox's master.")
def restore(
    cluster: str,
    at: str | None,
    latest: bool,
    label: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    in_sandbox: bool,
) -> None:
    """Bring CLUSTER back to a point in time, in place: its Patroni stopped everywhere, the
    inventory's primary restored from the repository and recovered to the target, the DCS reset,
    a new full backup, the replicas built again from it, services and VIP on the primary.
    Everything written after the target is lost."""
    given = [name for name, value in (("--time", at), ("--latest", latest or None), ("--backup", label)) if value]
    if len(given) != 1:
        raise click.UsageError(f"give exactly one of --time, --latest, --backup (got {', '.join(given) or 'none'})")
    moment = _parse_time(at) if at is not None else None
    runner = _runner(in_sandbox)
    members = _members(runner, cluster)[cluster]
    primary, replicas = members[0], members[1:]
    with StepDisplay() as display:
        display(f"{cluster}: the members' modules, from the master")
        _salt(runner, members, "saltutil.sync_modules")
        display(f"{cluster}: a WAL switch, archived (pgbackrest check on the leader)")
        checked = _salt(runner, members, "pgbackrest.check", timeout=600)
        failed = [f"{m}: {str(r).strip().splitlines()[-1]}" for m, r in checked.items() if not isinstance(r, dict)]
        if failed:
            raise PigsaltError(f"{cluster}: the archive check failed: {'; '.join(failed)}")
        display(f"{cluster}: what the repository holds")
        answers = _salt(runner, members, "pgbackrest.info")
        entry = next((a for a in answers.values() if isinstance(a, dict)), None)
        if entry is None:
            why = str(next(iter(answers.values()))).strip().splitlines()[-1].removeprefix("ERROR: ")
            raise PigsaltError(f"{cluster}: {why}")
        (stanza,) = binfo.parse(json.dumps([entry]))
        archived = _latest_archived(_salt(runner, members, "pgbackrest.archiver"))
    found = plan(stanza, archived, moment, label)
    steps = (
        f"Patroni stopped on {', '.join(members)}; {primary} restored {found['says']}; "
        f"the DCS reset; a full backup; {', '.join(replicas) or 'no replica'} built again from it"
    )
    if as_json and dry_run:
        click.echo(json.dumps({"cluster": cluster, "primary": primary, **found}))
        return
    click.echo(f"{cluster}: {steps}")
    if dry_run:
        return
    if not yes:
        typed = click.prompt(
            f"Everything written to {cluster} after the target is lost. Type {cluster} to restore", default=""
        )
        if typed != cluster:
            raise PigsaltError("not confirmed: nothing changed")
    pillar = {"pg_cluster": cluster, "restore": {**found["restore"], "confirm": cluster}}
    with StepDisplay() as display:
        display(f"pigsty.restore {cluster}")
        run = orch.run(runner, "pigsty.restore", pillar, timeout=RESTORE_TIMEOUT)
        if not run.ok:
            display(f"pigsty.restore {cluster}: FAILED after {run.seconds:.1f} s")
    if not run.ok:
        for line in run.failed:
            click.echo(f"  {line}", err=True)
        raise PigsaltError(
            f"{cluster}: the restore failed (above): {after_failure(run.failed, cluster, primary, replicas)}"
        )
    if as_json:
        click.echo(json.dumps({"cluster": cluster, "seconds": round(run.seconds, 1), **found}))
        return
    click.echo(
        f"{cluster}: restored in {run.seconds:.1f} s, {len(members)} members in service, a new full backup taken"
    )


# pigsty.restore's steps in order (salt/pigsty/restore.sls).
STEPS = (
    "pigsty-restore-input-test-fail",
    "pigsty-restore-modules-sync",
    "pigsty-restore-archive-function",
    "pigsty-restore-replicas-stop-function",
    "pigsty-restore-primary-stop-function",
    "pigsty-restore-primary-function",
    "pigsty-restore-dcs-function",
    "pigsty-restore-primary-start-function",
    "pigsty-restore-primary-state",
    "pigsty-restore-backup-function",
    "pigsty-restore-replicas-clear-function",
    "pigsty-restore-replicas-state",
    "pigsty-restore-leader-state",
)
FIRST_STOP, DCS_RESET, REBUILT = (STEPS.index(s) for s in (
    "pigsty-restore-replicas-stop-function", "pigsty-restore-dcs-function", "pigsty-restore-leader-state"
))  # fmt: skip


def failed_step(failed: list[str]) -> int | None:
    """The index in STEPS of the earliest step among ``failed`` (``orch.parse``'s lines: the
    step's id first); the later ones failed because it did."""
    found = [STEPS.index(word) for line in failed if (word := line.split(":")[0].split(" ")[0]) in STEPS]
    return min(found) if found else None


def after_failure(failed: list[str], cluster: str, primary: str, replicas: list[str]) -> str:
    """What the cluster is left as after ``pigsty.restore`` failed, by the step that failed
    first, and the commands that bring it back."""
    step = failed_step(failed)
    if step is None:
        return f"see which members still run Patroni: `salt -L {','.join([primary, *replicas])} service.status patroni`"
    if step < FIRST_STOP:
        return "nothing was stopped or changed, the cluster still serves"
    if step <= DCS_RESET:
        if not replicas:
            return (
                f"{primary} is stopped and its data directory may be half restored; the DCS still holds the "
                f"cluster: `pigsalt restore {cluster}` again once the cause is fixed"
            )
        return (
            f"Patroni is stopped on every member; the DCS still holds the cluster and the replicas the data of "
            f"before. `salt -L {','.join(replicas)} service.start patroni` serves it again (a replica takes the "
            f"lead); then `salt {primary} pgbackrest.clear_for_clone` and `salt {primary} service.start patroni` "
            f"clone {primary} from it"
        )
    if step >= REBUILT or not replicas:
        return (
            f"{primary} leads with the restored data{' and the replicas follow it' if replicas else ''}; "
            f"`pigsalt deploy --cluster {cluster}` finishes once the cause is fixed"
        )
    return (
        f"the DCS was reset and {primary} holds the restored data; the replicas hold the data of before and must "
        f"not serve it: once the cause is fixed, `salt -L {','.join(replicas)} service.stop patroni`, "
        f"`salt -L {','.join(replicas)} pgbackrest.clear_for_clone` and `pigsalt deploy --cluster {cluster}` "
        "build them again"
    )
