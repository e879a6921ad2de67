"""The ``pigsalt`` command line."""

from __future__ import annotations

import click

from pigsalt import __version__
from pigsalt.cli.options import CliContext


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Examples:\n\n\b\n  pigsalt init\n  pigsalt validate -i pigsty.yml\n  pigsalt pillar show pg-test-1",
)
@click.version_option(__version__, prog_name="pigsalt")
@click.option("-v", "--verbose", is_flag=True, help="Say more about what is happening.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """pigsalt: highly-available PostgreSQL on your own machines, deployed with SaltStack."""
    ctx.obj = CliContext(verbose=verbose)


# Command groups register here, one line each.
from pigsalt.cli.backup import backup  # noqa: E402
from pigsalt.cli.ca import ca  # noqa: E402
from pigsalt.cli.cmdb import cmdb  # noqa: E402
from pigsalt.cli.deploy import deploy  # noqa: E402
from pigsalt.cli.inventory import init, validate  # noqa: E402
from pigsalt.cli.master import master  # noqa: E402
from pigsalt.cli.pillar import pillar  # noqa: E402
from pigsalt.cli.repo import repo  # noqa: E402
from pigsalt.cli.restore import restore  # noqa: E402
from pigsalt.cli.sandbox import sandbox  # noqa: E402
from pigsalt.cli.secret import secret  # noqa: E402
from pigsalt.cli.status import status  # noqa: E402
from pigsalt.cli.upgrade import upgrade  # noqa: E402

for command in (
    init,
    validate,
    pillar,
    repo,
    master,
    sandbox,
    deploy,
    upgrade,
    secret,
    ca,
    status,
    cmdb,
    backup,
    restore,
):
    main.add_command(command)
