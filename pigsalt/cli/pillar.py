"""``pigsalt pillar build|show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from pigsalt.cli.options import inventory_option, json_option, resolve_inventory
from pigsalt.pillar.build import build as build_pillar
from pigsalt.pillar.build import node_pillar
from pigsalt.pillar.secrets import MISSING, SECRETS_FILE, secrets_path

DEFAULT_PILLAR_DIR = "pillar/inventory"
HIDDEN = "<hidden: use --show-secrets>"


def mask_secrets(data: Any) -> Any:
    """A copy of ``data`` with every ``password``/``*_password`` value hidden."""
    if isinstance(data, dict):
        return {
            k: (
                HIDDEN
                if isinstance(k, str) and (k == "password" or k.endswith("_password")) and v and v != MISSING
                else mask_secrets(v)
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data


@click.group(
    epilog="Examples:\n\n\b\n  pigsalt pillar build\n  pigsalt pillar show node-1",
)
def pillar() -> None:
    """Turn the inventory into Salt pillar, or show what a node receives."""


@pillar.command(
    epilog="Examples:\n\n\b\n  pigsalt pillar build                       # ./pigsty.yml -> pillar/inventory/\n"
    "  pigsalt pillar build -i prod.yml -o /srv/pigsalt/inventory\n\n"
    "Afterwards edit pillar/inventory/clusters/<cluster>.yml by hand if you like; the next\n"
    "orchestration applies it.",
)
@inventory_option
@click.option(
    "-o",
    "--output",
    "output",
    metavar="DIR",
    default=DEFAULT_PILLAR_DIR,
    show_default=True,
    help="Pillar directory the master's ext_pillar reads.",
)
@json_option
def build(inventory: str | None, output: str, as_json: bool) -> None:
    """Validate the inventory and write it as a pillar directory (all.yml, clusters/*.yml, secrets.yml).

    The one step that generates passwords: secrets.yml gets one set per cluster the first time
    the cluster is built, and keeps it (0600, in a 0700 directory)."""
    result = build_pillar(resolve_inventory(inventory), Path(output))
    warnings = result.loaded.report.warnings
    if as_json:
        click.echo(
            json.dumps(
                {
                    "output": str(result.out_dir),
                    "written": [str(p) for p in result.written],
                    "unchanged": [str(p) for p in result.unchanged],
                    "removed": [str(p) for p in result.removed],
                    "warnings": [{"path": p.path, "message": p.message} for p in warnings],
                },
                indent=2,
            )
        )
        return
    for problem in warnings:
        click.echo(f"warning: {problem}", err=True)
    for path in result.written:
        click.echo(f"wrote {path}")
    for path in result.removed:
        click.echo(f"removed {path}")
    click.echo(f"{result.out_dir}: {len(result.written)} written, {len(result.unchanged)} unchanged")


@pillar.command(
    epilog="Examples:\n\n\b\n  pigsalt pillar show node-1\n  pigsalt pillar show pg-test-1 --json\n"
    "  pigsalt pillar show 10.10.10.10 -i pillar/inventory",
)
@click.argument("node")
@inventory_option
@json_option
@click.option("--show-secrets", is_flag=True, help="Print passwords instead of hiding them.")
def show(node: str, inventory: str | None, as_json: bool, show_secrets: bool) -> None:
    """Show the fully derived pillar NODE receives (NODE: node name, IP or instance name).

    Reads only: generated passwords come from the pillar directory's store (for a single-file
    inventory, the default pillar directory's), and show as not generated yet without one."""
    path = resolve_inventory(inventory)
    store = secrets_path(path)
    if not path.is_dir() and not store.exists():
        store = Path(DEFAULT_PILLAR_DIR) / SECRETS_FILE
    data, _ = node_pillar(path, node, store)
    if not show_secrets:
        data = mask_secrets(data)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(yaml.safe_dump(data, default_flow_style=False, sort_keys=True, width=120), nl=False)
