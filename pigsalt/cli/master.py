"""``pigsalt master``: configure a Salt master (and its minions) for a pigsalt project."""

from __future__ import annotations

from pathlib import Path

import click

from pigsalt import master as master_lib
from pigsalt.errors import PigsaltError

_path = click.Path(file_okay=False, path_type=Path)

# Options the commands share, defined once.
config_dir_option = click.option(
    "--config-dir",
    type=_path,
    default=master_lib.DEFAULT_CONFIG_DIR,
    show_default=True,
    help="Salt's configuration directory.",
)
print_option = click.option("--print", "print_only", is_flag=True, help="Show the configuration; write nothing.")


@click.group(
    epilog="Examples:\n\n\b\n  pigsalt master setup --print\n  pigsalt master setup --project /srv/pigsalt\n"
    "  pigsalt master minion-config --master 10.10.10.10 --id node-1\n"
    "  pigsalt master accept node-1 --finger 5c:1e:…"
)
def master() -> None:
    """Configure the Salt master and minions for this project."""


@master.command(
    epilog="Examples:\n\n\b\n  pigsalt master setup --print\n"
    "  pigsalt master setup --project /srv/pigsalt --inventory /srv/pigsalt/pillar/inventory\n"
    "  systemctl restart salt-master"
)
@click.option(
    "--project",
    "project_dir",
    type=_path,
    default=None,
    help="The pigsalt project (salt/, pillar/, _modules/, _states/); default: this checkout.",
)
@click.option(
    "--inventory",
    "inventory_dir",
    type=_path,
    default=None,
    help="Compiled inventory for the ext_pillar (default: <project>/pillar/inventory).",
)
@config_dir_option
@click.option(
    "--extensions-dir",
    type=_path,
    default=master_lib.DEFAULT_EXTENSIONS_DIR,
    show_default=True,
    help="Where the _modules/_states links for the fileserver go.",
)
@click.option("--worker-threads", type=click.IntRange(1, 64), default=None, help="Master worker threads.")
@click.option(
    "--pillar-source",
    type=click.Choice(master_lib.PILLAR_SOURCES),
    default="files",
    show_default=True,
    help="Where the pillar's inventory comes from: the inventory files, or pg-meta's CMDB "
    "(load it first with `pigsalt cmdb load`; --inventory still says where pg-meta is).",
)
@print_option
def setup(
    project_dir: Path | None,
    inventory_dir: Path | None,
    config_dir: Path,
    extensions_dir: Path,
    worker_threads: int | None,
    pillar_source: str,
    print_only: bool,
) -> None:
    """Write <config-dir>/master.d/pigsalt.conf: file_roots, pillar_roots, ext_pillar, reactors.

    Keys are never accepted automatically (auto_accept and open_mode off).
    Restart salt-master afterwards.
    """
    project = project_dir or master_lib.default_project_dir()
    if project is None:
        raise PigsaltError("cannot tell where the pigsalt project is; pass --project DIR")
    project = project.absolute()
    settings = master_lib.MasterSettings(
        project_dir=project,
        inventory_dir=(inventory_dir or project / "pillar" / "inventory").absolute(),
        config_dir=config_dir,
        extensions_dir=extensions_dir,
        worker_threads=worker_threads,
        pillar_source=pillar_source,
    )
    if print_only:
        click.echo(f"# {settings.config_file}")
        click.echo(master_lib.render_master_config(settings), nl=False)
        return
    result = master_lib.setup(settings)
    if result.changed:
        click.echo(f"wrote {result.config_file} and {result.extensions_dir}; restart salt-master")
    else:
        click.echo(f"{result.config_file}: already in the desired state")


@master.command(
    "minion-config",
    epilog="Examples:\n\n\b\n  pigsalt master minion-config --master 10.10.10.10 --id node-1\n"
    "  pigsalt master minion-config --master 10.10.10.10 --id node-1 --print",
)
@click.option("--master", "master_addr", required=True, help="Address of the Salt master.")
@click.option("--id", "minion_id", required=True, help="The minion id (the node's name).")
@click.option(
    "--master-finger", default=None, help="Fingerprint of the master's public key to pin (salt-key -F master)."
)
@click.option(
    "--acceptance-wait",
    "acceptance_wait_time",
    type=click.IntRange(1, 3600),
    default=None,
    help="Seconds between the minion's checks whether its key was accepted (Salt's default: 10).",
)
@config_dir_option
@print_option
def minion_config(
    master_addr: str,
    minion_id: str,
    master_finger: str | None,
    acceptance_wait_time: int | None,
    config_dir: Path,
    print_only: bool,
) -> None:
    """Write <config-dir>/minion.d/pigsalt.conf pointing the minion at the master."""
    settings = master_lib.MinionSettings(
        master=master_addr,
        minion_id=minion_id,
        config_dir=config_dir,
        master_finger=master_finger,
        acceptance_wait_time=acceptance_wait_time,
    )
    if print_only:
        click.echo(f"# {settings.config_file}")
        click.echo(master_lib.render_minion_config(settings), nl=False)
        return
    if master_lib.write_minion_config(settings):
        click.echo(f"wrote {settings.config_file}; restart salt-minion")
    else:
        click.echo(f"{settings.config_file}: already in the desired state")


@master.command(
    epilog="Examples:\n\n\b\n  # on node-1: salt-call --local key.finger   -> 5c:1e:…\n"
    "  pigsalt master accept node-1 --finger 5c:1e:…",
)
@click.argument("minion_id")
@click.option("--finger", required=True, help="What `salt-call --local key.finger` printed on the node.")
@click.option(
    "--pki-dir",
    type=_path,
    default=master_lib.DEFAULT_PKI_DIR,
    show_default=True,
    help="The master's key directory.",
)
def accept(minion_id: str, finger: str, pki_dir: Path) -> None:
    """Accept MINION_ID's key only if it has the fingerprint the node itself printed.

    Compares with the key the master holds (computed the way `key.finger` does: Salt 3008.3's
    `salt-key -f` prints a different hash for the same key), then moves the key to minions/
    without the gap `salt-key --accept` leaves. A mismatch is refused and changes nothing.
    """
    result = master_lib.accept_minion(minion_id, finger, pki_dir)
    if result.already:
        click.echo(f"{minion_id}: already accepted with {result.finger}")
    else:
        click.echo(f"{minion_id}: accepted ({result.finger})")
