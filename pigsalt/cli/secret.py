"""``pigsalt secret rotate``: a new generated password for a cluster, applied everywhere it is used."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from pigsalt import orch
from pigsalt.cli.deploy import _orchestrate, _sandbox_runner
from pigsalt.cli.pillar import DEFAULT_PILLAR_DIR
from pigsalt.cli.sandbox import StepDisplay
from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import secrets as secret_store

# What ``--user`` names, besides the system users' own names: the other generated passwords.
OTHER_SECRETS = {"patroni": "patroni_password", "haproxy": "haproxy_admin_password", "etcd": "patroni_etcd_password"}
SYSTEM_USERS = {
    "pg_admin_username": "pg_admin_password",
    "pg_monitor_username": "pg_monitor_password",
    "pg_replication_username": "pg_replication_password",
}

EPILOG = """Examples:

\b
  pigsalt secret rotate --cluster pg-test --user replicator --sandbox
  pigsalt secret rotate --cluster pg-test                  # every generated password of pg-test
  pigsalt secret rotate --cluster pg-test --user patroni --no-deploy

The new password is stored in the pillar directory's secrets.yml, then `pigsty.cluster` applies
it (after `pigsty.infra` for etcd's, which etcd must know first): Postgres (ALTER ROLE with a
SCRAM verifier), patroni.yml (a reload), Pgbouncer, HAProxy and the exporters. Streaming
replicas keep their connection; they use the new password at their next one.
Exit status: 0 rotated and applied, 2 refused or failed (the store then holds the new password:
`pigsalt deploy --cluster NAME` finishes applying it).
"""


@click.group(epilog="Examples:\n\n\b\n  pigsalt secret rotate --cluster pg-test --user replicator")
def secret() -> None:
    """Generated passwords: rotate one cluster's."""


def choose(cvars: Mapping[str, Any], cluster: str, users: tuple[str, ...]) -> list[str]:
    """The store's parameter names ``users`` mean for ``cluster`` (all of them when empty); an
    unknown name or a password the inventory sets itself is an error."""
    names = {cvars[k]: v for k, v in SYSTEM_USERS.items()} | OTHER_SECRETS
    wanted = [names[u] for u in users if u in names] if users else list(secret_store.CLUSTER_GENERATED)
    unknown = [u for u in users if u not in names]
    if unknown:
        raise PigsaltError(f"--user {unknown[0]}: not a generated password of {cluster} (one of {', '.join(names)})")
    fixed = [p for p in wanted if p not in secret_store.CLUSTER_INTERNAL and cvars[p] is not None]
    if fixed and users:
        raise PigsaltError(f"{fixed[0]} of {cluster} is set in the inventory: change it there, then pigsalt deploy")
    if not users:
        wanted += [p for p in secret_store.CLUSTER_INTERNAL if p not in secret_store.NEVER_ROTATED]
    return [p for p in wanted if p not in fixed]


@secret.command(epilog=EPILOG)
@click.option("--cluster", required=True, metavar="NAME", help="The cluster whose password changes.")
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="USER",
    help="A system user (its name: replicator, dbuser_dba, ...), patroni, haproxy or etcd (Patroni's etcd user); "
    "repeatable. Default: all.",
)
@click.option(
    "--pillar",
    "pillar_dir",
    default=DEFAULT_PILLAR_DIR,
    show_default=True,
    metavar="DIR",
    help="The pillar directory (written by pillar build) whose secrets.yml holds the passwords.",
)
@click.option("--no-deploy", is_flag=True, help="Only store the new password; apply it with the next deploy.")
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Apply through the sandbox's master.")
def rotate(cluster: str, users: tuple[str, ...], pillar_dir: str, no_deploy: bool, in_sandbox: bool) -> None:
    """Give CLUSTER new generated passwords (or only USER's) and apply them with pigsty.cluster."""
    directory = Path(pillar_dir)
    if not (directory / secret_store.SECRETS_FILE).exists():
        raise PigsaltError(f"{directory}: no {secret_store.SECRETS_FILE}; run pigsalt pillar build first")
    inv, _ = open_inventory(directory)
    if cluster not in {c.name for c in inv.clusters}:
        names = ", ".join(sorted(c.name for c in inv.clusters))
        raise PigsaltError(f"--cluster {cluster}: not a cluster of {directory} (clusters: {names})")
    params = choose(inv.cluster(cluster).vars, cluster, users)
    if not params:
        raise PigsaltError(f"{cluster}: every password is set in the inventory; nothing is generated to rotate")
    secret_store.rotate(directory / secret_store.SECRETS_FILE, cluster, params)
    click.echo(f"{cluster}: new {', '.join(params)} stored in {directory / secret_store.SECRETS_FILE}")
    if no_deploy:
        click.echo(f"apply it with: pigsalt deploy --cluster {cluster}")
        return
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    with StepDisplay() as display:
        changed = 0
        if "patroni_etcd_password" in params:
            # etcd learns the new password first (etcd.auth, in pigsty.infra): Patroni's next
            # login uses it; until its reload Patroni keeps the session it has.
            display("pigsty.infra (etcd.auth)")
            infra = orch.run(runner, "pigsty.infra")
            if not infra.ok:
                raise PigsaltError(f"pigsty.infra failed: {'; '.join(infra.failed[:3])}")
            changed += len(infra.changed)
        changed += _orchestrate(runner, cluster, display)
        elapsed = display.elapsed
    click.echo(f"{cluster}: applied in {elapsed:.1f} s ({changed} states changed)")
