"""``pigsalt upgrade``: a cluster to a new PostgreSQL major through its successor cluster."""

from __future__ import annotations

import time

import click

from pigsalt import orch
from pigsalt import upgrade as lib
from pigsalt.cli.deploy import _sandbox_runner
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError

EPILOG = """Examples:

\b
  pigsalt upgrade pg-test --to 17 --check     # what would block, change nothing
  pigsalt upgrade pg-test --to 17             # replicate, then ask before the cutover
  pigsalt upgrade pg-test --to 17 --confirm pg-test   # no question (scripts)
  pigsalt upgrade pg-test --to 17 --abort     # the way back, before the cutover

Declare the successor first (other nodes, the new release), and deploy it:

\b
  pg-test17: {hosts: {...}, vars: {pg_cluster: pg-test17, node_os: debian13,
                                   pg_upgrade_from: pg-test}}
"""


@click.command(epilog=EPILOG)
@click.argument("source")
@click.option("--to", "version", type=int, required=True, help="The PostgreSQL major of the successor.")
@click.option("--check", "check_only", is_flag=True, help="Only list what blocks the upgrade; exit 1 if anything.")
@click.option("--abort", "abort", is_flag=True, help="Undo a started upgrade before its cutover.")
@click.option("--confirm", metavar="SOURCE", help="Cut over without asking: repeat the source cluster's name.")
@click.option(
    "--sync-timeout", type=float, default=3600, show_default=True, help="Seconds to wait for the initial copy."
)
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Run salt in the sandbox's master node.")
def upgrade(
    source: str, version: int, check_only: bool, abort: bool, confirm: str | None, sync_timeout: float, in_sandbox: bool
) -> None:
    """Move SOURCE to PostgreSQL --to on the successor cluster that declares
    `pg_upgrade_from: SOURCE`: logical replication of every database, then a cutover with a
    short write pause (source read-only, successor caught up, sequences copied, VIP moved).

    Before the cutover nothing on the source changes but a publication per database; --abort
    drops it again. After the cutover the source stays read-only: retire it from the inventory."""
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    if check_only and abort:
        raise click.UsageError("--check and --abort do not go together")
    pair = lib.find_pair(runner, source, version)
    _, dst_grant = lib.vip_grants(runner, pair)
    if dst_grant == "granted":
        done = f"{source} was already cut over to {pair.successor} (its VIP is granted)"
        if abort:
            raise PigsaltError(f"{done}: there is no way back through pigsalt (docs/upgrade.md)")
        if not check_only:
            # A run that stopped after the cutover: finish the clean-up (idempotent), nothing else.
            lib.call(runner, pair, "finish")
        click.echo(f"{done}: nothing left to do")
        return
    if abort:
        lib.call(runner, pair, "abort")
        click.echo(f"{source}: the upgrade into {pair.successor} is aborted; the source takes writes")
        return
    found = lib.call(runner, pair, "check")
    for line in found["blockers"]:
        click.echo(f"  blocked: {line}", err=True)
    if found["blockers"]:
        click.echo(
            f"Error: {len(found['blockers'])} thing(s) block the upgrade of {source} into {pair.successor}", err=True
        )
        raise SystemExit(1)
    dbs = ", ".join(found["databases"]) or "none"
    click.echo(f"{source} -> {pair.successor} (PostgreSQL {version}): nothing blocks; databases: {dbs}")
    if check_only:
        return
    click.echo("From now until the cutover: no DDL on the source (logical replication does not carry it).")
    with StepDisplay() as display:
        display("schema copy and subscriptions")
        lib.call(runner, pair, "start")
        lib.wait_synchronized(runner, pair, display, sync_timeout)
    if confirm is None:
        confirm = click.prompt(f"Writes to {source} pause at the cutover. Type {source} to cut over", default="")
    if confirm != source:
        raise PigsaltError("not confirmed: the successor keeps replicating; run again to cut over, or --abort")
    started = time.monotonic()
    cut = lib.call(runner, pair, "cutover")
    lib.hand_over_vip(runner, pair)
    moved = time.monotonic() - started
    lib.call(runner, pair, "finish")
    click.echo(
        f"cut over in {moved:.1f} s: source frozen in {cut['freeze_seconds']:.1f} s "
        f"({cut['sessions_ended']} sessions ended), caught up in {cut['catch_up_seconds']:.1f} s, "
        f"{cut['sequences']} sequences copied, VIP granted to {pair.successor}"
    )
    click.echo(f"{source} is read-only from now on: remove it from the inventory when you no longer need it.")
