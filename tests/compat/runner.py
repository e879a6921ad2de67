"""Pigsty's own inventories against pigsalt's validator: every release's default ``pigsty.yml``
and every configuration template of one release, as shipped (the compatibility report of
docs/pigsty.md). Needs a clone of Pigsty with its tags, so CI does not run it::

    python -m tests.compat.runner --pigsty ~/src/pigsty              # every release's pigsty.yml
    python -m tests.compat.runner --pigsty ~/src/pigsty --conf v4.5.0   # that release's conf/**.yml

Each file: accepted, or its first error; a file refused only for its ``pg_version`` is tried
again with the newest PostgreSQL the nodes' Debian ships.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from pigsalt.errors import PigsaltError
from pigsalt.inventory.catalogue import git, release_tags
from pigsalt.inventory.model import check
from pigsalt.inventory.validate import Report


def _with_pg_version(doc: Any, version: int) -> Any:
    """``doc`` with every ``pg_version`` set to ``version``."""
    if isinstance(doc, dict):
        return {k: (version if k == "pg_version" else _with_pg_version(v, version)) for k, v in doc.items()}
    return doc


def _check(text: str) -> Report:
    """What ``pigsalt validate`` says of ``text`` (read, normalised, validated, built)."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "pigsty.yml"
        path.write_text(text)
        return check(path).report


def verdict(text: str) -> tuple[str, str]:
    """("ok" | "ok with pg_version 17" | "refused" | "not YAML", the first error)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return "not YAML", str(err).splitlines()[0]
    try:
        report = _check(text)
    except PigsaltError as err:
        return "not an inventory", err.message.split(": ", 1)[-1]
    if report.ok:
        return "ok", ""
    first = report.errors[0]
    if any(p.path.endswith("pg_version") for p in report.errors):
        again = _check(yaml.safe_dump(_with_pg_version(doc, 17), sort_keys=False))
        if again.ok:
            return "ok with pg_version 17", f"{first.path}: {first.message}"
        first = again.errors[0]
        return "refused (pg_version 17 too)", f"{first.path}: {first.message}"
    return "refused", f"{first.path}: {first.message}"


def files(checkout: Path, conf: str | None) -> Iterator[tuple[str, str]]:
    """(label, text) of each file to try."""
    if conf is None:
        for tag in release_tags(git(checkout, "tag").split()):
            yield tag, git(checkout, "show", f"{tag}:pigsty.yml")
        return
    for path in sorted(git(checkout, "ls-tree", "-r", "--name-only", conf).splitlines()):
        if path.startswith("conf/") and path.endswith((".yml", ".yaml")):
            yield f"{conf}:{path}", git(checkout, "show", f"{conf}:{path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pigsty", type=Path, required=True)
    parser.add_argument("--conf", metavar="TAG", help="the conf/ templates of this release instead")
    args = parser.parse_args(argv)
    counts: Counter[str] = Counter()
    for label, text in files(args.pigsty, args.conf):
        result, why = verdict(text)
        counts[result] += 1
        print(f"| {label} | {result} | {why[:160]} |")
    total = sum(counts.values())
    print("\n" + ", ".join(f"{n} {r}" for r, n in counts.most_common()) + f" (of {total})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
