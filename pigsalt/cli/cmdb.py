"""``pigsalt cmdb``: the inventory in pg-meta (database ``meta``, schema ``pigsty``), loaded and dumped."""

from __future__ import annotations

from pathlib import Path

import click

from pigsalt import orch
from pigsalt.cli.deploy import _runner_json, _sandbox_runner
from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_text_atomic

EPILOG = """Examples:

\b
  pigsalt cmdb load --sandbox
  pigsalt cmdb dump --sandbox -o cmdb.yml && pigsalt validate -i cmdb.yml
"""


@click.group(epilog=EPILOG)
def cmdb() -> None:
    """The CMDB: the inventory as tables in pg-meta, the raw ones (the inventory as written) and
    derived ones (nodes, clusters, instances, services, users, databases, HBA rules)."""


def _runner(in_sandbox: bool) -> orch.Runner:
    return _sandbox_runner if in_sandbox else orch.local_runner


@cmdb.command(epilog=EPILOG)
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Through the sandbox's master.")
def load(in_sandbox: bool) -> None:
    """Load the master's inventory into the CMDB, in one transaction."""
    found = _runner_json(_runner(in_sandbox), ["salt-run", "--out=json", "pigsalt.cmdb_load"])
    click.echo(
        f"loaded {found.get('loaded')}: {found.get('groups')} groups, {found.get('hosts')} hosts, "
        f"{found.get('variables')} variables"
    )


@cmdb.command(epilog=EPILOG)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (0600).")
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Through the sandbox's master.")
def dump(output: Path | None, in_sandbox: bool) -> None:
    """Print (or write) the inventory the CMDB holds. It holds the inventory's passwords."""
    text = _runner_json(_runner(in_sandbox), ["salt-run", "--out=json", "pigsalt.cmdb_dump"]).get("inventory")
    if not isinstance(text, str):
        raise PigsaltError("pigsalt.cmdb_dump returned no inventory")
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text, 0o600)
        click.echo(f"wrote {output} (0600)", err=True)
