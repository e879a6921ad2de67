"""Generated files that a Salt ``cmd.run`` keeps in place (the console pages, Grafana's
provisioning): write what differs, remove what is no longer generated, print each path, and end
with the line Salt's ``stateful`` mode reads, so a second run reports no change."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from pigsalt.fileio import write_atomic

__all__ = ["differs", "main", "sync"]


def differs(path: Path, text: str) -> bool:
    """``path`` does not hold exactly ``text`` with mode 0644 (what ``write_atomic`` would fix)."""
    try:
        return path.read_text(encoding="utf-8") != text or (path.stat().st_mode & 0o777) != 0o644
    except (FileNotFoundError, UnicodeDecodeError):
        return True


def sync(files: Mapping[Path, str], stale: Iterable[Path], dry_run: bool = False) -> list[Path]:
    """Write ``files`` and remove ``stale``; the paths written or removed (``dry_run``: that
    would be, touching nothing)."""
    if dry_run:
        changed = [path for path, text in files.items() if differs(path, text)]
    else:
        changed = [path for path, text in files.items() if write_atomic(path, text)]
    for path in sorted(set(stale) - set(files)):
        if not dry_run:
            path.unlink()
        changed.append(path)
    return changed


def main(
    argv: Sequence[str] | None,
    prog: str,
    description: str,
    directory_help: str,
    what: str,
    write: Callable[[Path, str, bool], list[Path]],
) -> int:
    """The command line of a generator: ``DIRECTORY [--scrape-interval S] [--stateful] [--dry-run]``;
    ``what`` names the files in the stateful comment (``console files``)."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=description)
    parser.add_argument("directory", type=Path, help=directory_help)
    parser.add_argument("--scrape-interval", default="10s", help="Prometheus' scrape interval (default: 10s)")
    parser.add_argument(
        "--stateful",
        action="store_true",
        help="end with the line Salt's cmd.run (stateful: True) reads: changed=yes|no comment='…'",
    )
    parser.add_argument("--dry-run", action="store_true", help="write nothing; print what would change")
    args = parser.parse_args(argv)
    try:
        changed = write(args.directory, args.scrape_interval, args.dry_run)
    except (OSError, ValueError) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(path)
    if args.stateful:
        done = "would be written or removed" if args.dry_run else "written or removed"
        comment = f"{len(changed)} {what} {done}" if changed else f"{what} up to date"
        print(f"changed={'yes' if changed else 'no'} comment='{comment}'")
    return 0
