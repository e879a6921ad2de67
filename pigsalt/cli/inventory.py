"""``pigsalt init`` and ``pigsalt validate``."""

from __future__ import annotations

import json
from importlib import resources

import click

from pigsalt.cli.options import inventory_option, json_option, resolve_inventory
from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_atomic
from pigsalt.inventory.model import check


def default_inventory_text() -> str:
    """The default four-node sandbox inventory shipped with pigsalt."""
    return resources.files("pigsalt").joinpath("data/sandbox.yml").read_text(encoding="utf-8")


@click.command(
    epilog="Examples:\n\n\b\n  pigsalt init                  # writes ./pigsty.yml\n  pigsalt init -i prod.yml --force",
)
@inventory_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(inventory: str | None, force: bool) -> None:
    """Write the default sandbox inventory: meta 10.10.10.10 running pg-meta, pg-test on
    10.10.10.11-13 with VIP 10.10.10.3."""
    path = resolve_inventory(inventory)
    if path.exists() and not force:
        raise PigsaltError(f"{path} already exists; use --force to overwrite it")
    write_atomic(path, default_inventory_text())
    click.echo(f"wrote {path}")


@click.command(
    epilog="Examples:\n\n\b\n  pigsalt validate\n  pigsalt validate -i pillar/inventory --json\n\n"
    "Exit status: 0 valid (warnings allowed), 2 errors.",
)
@inventory_option
@json_option
def validate(inventory: str | None, as_json: bool) -> None:
    """Check an inventory and list every error and warning with its dotted path. Writes nothing."""
    path = resolve_inventory(inventory)
    loaded = check(path)
    report = loaded.report
    if as_json:
        doc = {
            "inventory": str(path),
            "ok": report.ok,
            "errors": [{"path": p.path, "message": p.message} for p in report.errors],
            "warnings": [{"path": p.path, "message": p.message} for p in report.warnings],
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        for problem in report.warnings:
            click.echo(f"warning: {problem}", err=True)
        for problem in report.errors:
            click.echo(f"error: {problem}", err=True)
        if report.ok:
            inv = loaded.inventory
            assert inv is not None
            click.echo(
                f"{path}: valid: {len(inv.clusters)} clusters, {len(inv.nodes)} nodes"
                + (f", {len(report.warnings)} warnings" if report.warnings else "")
            )
        else:
            count = len(report.errors)
            click.echo(f"{path}: {count} error{'s' if count > 1 else ''}", err=True)
    if not report.ok:
        raise SystemExit(2)
