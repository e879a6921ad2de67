"""Options shared by every command, defined once and stacked with decorators."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_INVENTORY = "pigsty.yml"
INVENTORY_ENV = "PIGSALT_INVENTORY"


@dataclass(frozen=True)
class CliContext:
    """What the top-level group hands to every command (``ctx.obj``)."""

    verbose: bool = False


def resolve_inventory(path: str | None) -> Path:
    """The inventory every command uses: the option, else $PIGSALT_INVENTORY, else ./pigsty.yml."""
    if path:
        return Path(path)
    env = os.environ.get(INVENTORY_ENV)
    if env:
        return Path(env)
    return Path(DEFAULT_INVENTORY)


def inventory_option(func: F) -> F:
    """``-i/--inventory PATH``: a pigsty.yml file or a pillar directory written by ``pillar build``."""
    return click.option(
        "-i",
        "--inventory",
        "inventory",
        metavar="PATH",
        default=None,
        help=f"Inventory file or directory (default: ${INVENTORY_ENV}, else ./{DEFAULT_INVENTORY}).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: print data as JSON instead of YAML/text."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)
