"""Writes docs/inventory.md from the parameter table, and docs/pigsty-params.md from the
catalogue of Pigsty's parameters (``make docs``: ``--catalogue`` for the second)."""

from __future__ import annotations

import json
import sys
from itertools import groupby

from pigsalt.inventory.catalogue import load
from pigsalt.inventory.params import PARAMS
from pigsalt.inventory.pigsty import OTHER_MODULES, UNIMPLEMENTED, module_of

INTRO = """# Inventory reference

pigsalt reads a Pigsty-layout inventory (`all.vars`, `all.children.meta`,
`all.children.<cluster>.hosts.<ip>`, cluster `vars`). A parameter set on a host overrides the
cluster's, which overrides `all.vars`, which overrides the default. "Levels" says where a
parameter may be written. Unknown keys are errors (with a "did you mean"); the Pigsty
parameters listed at the end are accepted with a warning and ignored.

This file is generated from `pigsalt/inventory/params.py` by `make docs`; a test fails when
it is out of date.
"""


def _default(value: object) -> str:
    if value is None:
        return "—"
    return f"`{json.dumps(value)}`"


def render() -> str:
    lines = [INTRO]
    order = list(dict.fromkeys(p.section for p in PARAMS.values()))
    params = sorted(PARAMS.values(), key=lambda p: order.index(p.section))
    for section, group in groupby(params, key=lambda p: p.section):
        lines.append(f"\n## {section.capitalize()}\n")
        lines.append("| parameter | type | default | levels | meaning |")
        lines.append("|---|---|---|---|---|")
        for p in group:
            kind = p.node.describe().replace("|", "\\|")
            meaning = p.doc.replace("|", "\\|")
            lines.append(f"| `{p.name}` | {kind} | {_default(p.default)} | {', '.join(p.levels)} | {meaning} |")
    lines.append("\n## Pigsty parameters pigsalt does not implement\n")
    lines.append("Accepted and ignored, with one warning per group that names them (docs/pigsty.md). Variables")
    lines.append("starting with `ansible_` are ignored the same way, and so are the parameters of Pigsty's other")
    lines.append("modules, recognised by their prefix: a group of those is not deployed.\n")
    lines.append(", ".join(f"`{name}`" for name in sorted(UNIMPLEMENTED)))
    modules = ", ".join(f"`{prefix}*` ({module})" for prefix, module in OTHER_MODULES.items())
    lines.append(f"\nOther modules' prefixes: {modules}.")
    return "\n".join(lines) + "\n"


CATALOGUE_INTRO = """# Every Pigsty parameter, by release

Each parameter name of Pigsty's releases {first} … {last} ({count} names; each role's
`defaults/main.yml` and the variables its `pigsty.yml` and `conf/` files write), the releases it
exists in, and what pigsalt does with it: *implements* (docs/inventory.md), *ignores* (accepted,
one warning per group; never taken for a typo), or *another module's* (a group of them is not
deployed). What a value means in each release is in docs/pigsty.md.

Generated from `pigsalt/data/pigsty-params.json` by `make docs`; a test fails when it is out of
date.
"""


def disposition(name: str) -> str:
    """What pigsalt does with Pigsty's parameter ``name``."""
    if name in PARAMS:
        return "implements"
    module = module_of(name)
    return f"another module's ({module})" if module else "ignores"


def render_catalogue() -> str:
    found = load()
    lines = [
        CATALOGUE_INTRO.format(first=found.releases[0], last=found.releases[-1], count=len(found.ranges)),
        "| parameter | releases | pigsalt |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {found.span(name)} | {disposition(name)} |" for name in sorted(found.ranges)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_catalogue() if sys.argv[1:] == ["--catalogue"] else render())
