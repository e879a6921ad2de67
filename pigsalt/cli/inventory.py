"""``pigsalt init`` and ``pigsalt validate``."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import replace
from importlib import resources

import click

from pigsalt.cli.options import inventory_option, json_option, resolve_inventory
from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_atomic
from pigsalt.inventory.explain import explain as explain_inventory
from pigsalt.inventory.model import check
from pigsalt.inventory.validate import Report

# A business user's password in the shipped inventory: ``{name: test, password: test, ...}``.
_USER_PASSWORD = re.compile(r"(\{name: [^,}]+, password: )([^,}]+)")


def default_inventory_text() -> str:
    """The default four-node sandbox inventory shipped with pigsalt (its published passwords)."""
    return resources.files("pigsalt").joinpath("data/sandbox.yml").read_text(encoding="utf-8")


def with_generated_passwords(text: str) -> str:
    """``text`` with a new random password for each business user (what ``init`` writes)."""
    return _USER_PASSWORD.sub(lambda m: m.group(1) + secrets.token_urlsafe(18), text)


@click.command(
    epilog="Examples:\n\n\b\n  pigsalt init                  # writes ./pigsty.yml\n  pigsalt init -i prod.yml --force",
)
@inventory_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(inventory: str | None, force: bool) -> None:
    """Write the default sandbox inventory: meta 10.10.10.10 running pg-meta, pg-test on
    10.10.10.11-13 with VIP 10.10.10.3. Each business user gets a new random password (the
    file is 0600: it holds them); the system users' passwords are generated per cluster by
    `pigsalt pillar build`."""
    path = resolve_inventory(inventory)
    if path.exists() and not force:
        raise PigsaltError(f"{path} already exists; use --force to overwrite it")
    write_atomic(path, with_generated_passwords(default_inventory_text()), 0o600)
    click.echo(f"wrote {path}")


@click.command(
    epilog="Examples:\n\n\b\n  pigsalt validate\n  pigsalt validate -i pillar/inventory --json\n"
    "  pigsalt validate -i pigsty.yml --explain   # what will be deployed, cluster by cluster\n"
    "  pigsalt validate --strict                  # warnings count as errors\n\n"
    "Exit status: 0 valid (warnings allowed unless --strict), 2 errors.",
)
@inventory_option
@json_option
@click.option("--explain", is_flag=True, help="Also print, per cluster, what pigsalt will deploy from the file.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(inventory: str | None, as_json: bool, explain: bool, strict: bool) -> None:
    """Check an inventory and list every error and warning with its dotted path. Writes nothing."""
    path = resolve_inventory(inventory)
    loaded = check(path)
    report = loaded.report
    if strict:
        report = Report([replace(p, warning=False) for p in report.problems])
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
            if explain:
                for line in explain_inventory(inv):
                    click.echo(line)
            click.echo(
                f"{path}: valid: {len(inv.clusters)} clusters, {len(inv.nodes)} nodes"
                + (f", {len(report.warnings)} warnings" if report.warnings else "")
            )
        else:
            count = len(report.errors)
            click.echo(f"{path}: {count} error{'s' if count > 1 else ''}", err=True)
    if not report.ok:
        raise SystemExit(2)
