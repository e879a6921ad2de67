"""Every parameter name of every Pigsty release, with the releases it exists in.

The data (``pigsalt/data/pigsty-params.json``) is facts read from Pigsty's public repository at
each release tag by ``build`` (no Pigsty text is kept): the top-level keys of every role's
``defaults/main.yml``, and the variable names its configuration files write (``pigsty.yml``,
``conf/**.yml``, ``files/conf/**.yml``: ``all.vars``, each group's ``vars``, each host's vars).
Refresh it from a checkout with every tag::

    python -m pigsalt.inventory.catalogue --pigsty ~/src/pigsty --out pigsalt/data/pigsty-params.json

The validator uses it to tell a real Pigsty parameter pigsalt does not implement (ignored, with a
warning) from a typo of one pigsalt does (an error), whatever release the inventory comes from.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pigsalt.fileio import write_atomic

DATA = "pigsty-params.json"
# Release tags only: v1.0.0 … (no -rc, -b1, nor the short aliases v1 and v1.1).
RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
FIRST_MAJOR = 1
CONFIG_FILE = re.compile(r"^(pigsty\.yml|conf/.+\.ya?ml|files/conf/.+\.ya?ml)$")
ROLE_DEFAULTS = re.compile(r"^roles/[^/]+/defaults/main\.ya?ml$")
# A parameter name as Pigsty writes them (lowercase words joined by underscores).
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Catalogue:
    """Pigsty's releases in order and, for each parameter name, the releases it exists in (as
    indexes into ``releases``, in runs: ``[[first, last], …]``)."""

    releases: tuple[str, ...]
    ranges: Mapping[str, tuple[tuple[int, int], ...]]

    def known(self, name: str) -> bool:
        """Whether some Pigsty release has parameter ``name``."""
        return name in self.ranges

    def span(self, name: str) -> str:
        """Where ``name`` exists, e.g. ``v1.0.0-v1.5.1, v3.0.0-v4.5.0`` ('' when never)."""
        runs = self.ranges.get(name, ())
        return ", ".join(self.releases[a] if a == b else f"{self.releases[a]}-{self.releases[b]}" for a, b in runs)

    def only_in(self, majors: Iterable[int]) -> frozenset[str]:
        """The names that exist in releases of ``majors`` and in no other release."""
        inside = {i for i, tag in enumerate(self.releases) if _major(tag) in set(majors)}
        found = set()
        for name, runs in self.ranges.items():
            present = {i for a, b in runs for i in range(a, b + 1)}
            if present and present <= inside:
                found.add(name)
        return frozenset(found)


def _major(tag: str) -> int:
    found = RELEASE_TAG.match(tag)
    return int(found.group(1)) if found else -1


@cache
def load() -> Catalogue:
    """The catalogue shipped with pigsalt."""
    doc = json.loads(resources.files("pigsalt").joinpath(f"data/{DATA}").read_text(encoding="utf-8"))
    ranges = {name: tuple((int(a), int(b)) for a, b in runs) for name, runs in doc["params"].items()}
    return Catalogue(tuple(doc["releases"]), ranges)


# --- building it from a checkout -----------------------------------------------------------------


def release_tags(tags: Iterable[str]) -> list[str]:
    """The release tags of v1.0.0 and later, oldest first."""
    found = [(tuple(int(x) for x in m.groups()), tag) for tag in tags if (m := RELEASE_TAG.match(tag))]
    return [tag for version, tag in sorted(found) if version[0] >= FIRST_MAJOR]


def git(checkout: Path, *args: str) -> str:
    """``git -C checkout ARGS``'s output; a failure ends the command with git's reason."""
    done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def inventory_names(doc: Any) -> Iterator[str]:
    """The variable names an Ansible inventory writes: all.vars, each group's vars, each host's
    vars (nested children too)."""

    def group(node: Mapping[str, Any]) -> Iterator[str]:
        yield from map(str, _mapping(node.get("vars")))
        for hvars in _mapping(node.get("hosts")).values():
            yield from map(str, _mapping(hvars))
        for child in _mapping(node.get("children")).values():
            yield from group(_mapping(child))

    yield from group(_mapping(_mapping(doc).get("all")))


def names_at(checkout: Path, tag: str) -> set[str]:
    """The parameter names of release ``tag``: its roles' defaults and its configuration files."""
    found: set[str] = set()
    for path in git(checkout, "ls-tree", "-r", "--name-only", tag).splitlines():
        is_defaults = ROLE_DEFAULTS.match(path) is not None
        if not is_defaults and not CONFIG_FILE.match(path):
            continue
        try:
            doc = yaml.safe_load(git(checkout, "show", f"{tag}:{path}"))
        except yaml.YAMLError:
            continue  # a file that is not valid YAML as shipped names nothing
        names = map(str, _mapping(doc)) if is_defaults else inventory_names(doc)
        found.update(name for name in names if NAME.match(name))
    return found


def runs(indexes: Sequence[int]) -> list[list[int]]:
    """Sorted indexes as ``[[first, last], …]`` runs of consecutive ones."""
    out: list[list[int]] = []
    for i in indexes:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def build(checkout: Path) -> dict[str, Any]:
    tags = release_tags(git(checkout, "tag").split())
    seen: dict[str, list[int]] = {}
    for index, tag in enumerate(tags):
        for name in names_at(checkout, tag):
            seen.setdefault(name, []).append(index)
    return {
        "comment": "Pigsty's parameter names by release, read from its public repository by "
        "`python -m pigsalt.inventory.catalogue` (pigsalt/inventory/catalogue.py); do not edit by hand.",
        "releases": tags,
        "params": {name: runs(indexes) for name, indexes in sorted(seen.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pigsty", type=Path, required=True, help="a clone of pgsty/pigsty with its tags")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    doc = build(args.pigsty)
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    write_atomic(args.out, text)
    print(f"{args.out}: {len(doc['params'])} names over {len(doc['releases'])} releases", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
