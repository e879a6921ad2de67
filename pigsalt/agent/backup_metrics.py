"""Backup and archive metrics of a member, for node_exporter's textfile collector.

Run by ``pigsalt-backup-metrics.timer`` (the ``pgbackrest`` formula) every minute as root on
every backed-up member; writes ``pgbackrest.prom`` into the collector's directory atomically.
Every metric carries ``stanza`` (the cluster; node_exporter's own target labels say which node).

From ``pgbackrest info`` (the repository, through the TLS server):

    pigsalt_backup_info_up                       1 when the repository answered with the stanza ok
    pigsalt_backup_last_good_seconds{type}       stop time of the newest good backup of each type
    pigsalt_backup_last_duration_seconds{type}   its duration
    pigsalt_backup_last_size_bytes{type}         its database size
    pigsalt_backup_repository_bytes              what the backups take in the repository (WAL aside)
    pigsalt_backup_count                         good backups
    pigsalt_backup_full_max_age_seconds          the schedule's longest gap between full backups
                                                 plus a margin (only with a pg_crontab full line)

From this member's Postgres (``pg_stat_archiver``, ``pg_wal/archive_status``):

    pigsalt_archive_primary                      1 on the primary (only it archives)
    pigsalt_archive_archived_total, pigsalt_archive_failed_total
    pigsalt_archive_last_archived_seconds, pigsalt_archive_last_failed_seconds   (0: never)
    pigsalt_archive_ready_segments               completed WAL segments not yet archived

Standard library only; no secret reaches the file (pgBackRest's configuration stays where it is).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pigsalt import fileio
from pigsalt.agent import AgentError, psql
from pigsalt.agent import pgbackrest as pgbr

TYPES = ("full", "diff", "incr")
ARCHIVER_SQL = (
    "SELECT archived_count, failed_count,"
    " coalesce(extract(epoch FROM last_archived_time), 0), coalesce(extract(epoch FROM last_failed_time), 0),"
    " NOT pg_is_in_recovery() FROM pg_stat_archiver"
)


def _line(name: str, labels: dict[str, str], value: float) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    number = float(value)
    return f"{name}{{{body}}} {int(number) if number.is_integer() else repr(number)}"


def backup_lines(stanza: str, entry: dict[str, Any] | None, max_age: float | None) -> list[str]:
    """The repository's metrics from the stanza's ``info`` entry (None: it did not answer)."""
    base = {"stanza": stanza}
    code = int(((entry or {}).get("status") or {}).get("code", 99))
    lines = [_line("pigsalt_backup_info_up", base, 1 if entry is not None and code in (0, 2) else 0)]
    if max_age is not None:
        lines.append(_line("pigsalt_backup_full_max_age_seconds", base, max_age))
    good = [b for b in (entry or {}).get("backup") or [] if isinstance(b, dict) and not b.get("error")]
    lines.append(_line("pigsalt_backup_count", base, len(good)))
    stored = sum(int(((b.get("info") or {}).get("repository") or {}).get("delta") or 0) for b in good)
    lines.append(_line("pigsalt_backup_repository_bytes", base, stored))
    for kind in TYPES:
        of_kind = [b for b in good if b.get("type") == kind]
        if not of_kind:
            continue
        newest = max(of_kind, key=lambda b: int((b.get("timestamp") or {}).get("stop") or 0))
        stamps = newest.get("timestamp") or {}
        labels = {**base, "type": kind}
        lines.append(_line("pigsalt_backup_last_good_seconds", labels, int(stamps.get("stop") or 0)))
        lines.append(
            _line(
                "pigsalt_backup_last_duration_seconds",
                labels,
                int(stamps.get("stop") or 0) - int(stamps.get("start") or 0),
            )
        )
        lines.append(_line("pigsalt_backup_last_size_bytes", labels, int((newest.get("info") or {}).get("size") or 0)))
    return lines


def archive_lines(stanza: str, row: str | None, ready: int) -> list[str]:
    """The archiver's metrics from ``ARCHIVER_SQL``'s unaligned row (None: Postgres did not answer)."""
    base = {"stanza": stanza}
    if row is None:
        return []
    archived, failed, last_ok, last_failed, primary = row.strip().split("|")
    return [
        _line("pigsalt_archive_primary", base, 1 if primary == "t" else 0),
        _line("pigsalt_archive_archived_total", base, int(archived)),
        _line("pigsalt_archive_failed_total", base, int(failed)),
        _line("pigsalt_archive_last_archived_seconds", base, float(last_ok)),
        _line("pigsalt_archive_last_failed_seconds", base, float(last_failed)),
        _line("pigsalt_archive_ready_segments", base, ready),
    ]


def _ready(data: str) -> int:
    try:
        return sum(1 for p in Path(data, "pg_wal", "archive_status").iterdir() if p.name.endswith(".ready"))
    except OSError:
        return 0


def collect(args: argparse.Namespace) -> str:
    stanza = pgbr.Stanza(args.config, args.stanza, args.user)
    try:
        entry: dict[str, Any] | None = pgbr.info(stanza, timeout=50)
    except AgentError:
        entry = None
    try:
        row: str | None = psql.Psql(psql.local_as(args.user), port=args.port).query(ARCHIVER_SQL)
    except AgentError:
        row = None
    lines = [
        f"# pigsalt.agent.backup_metrics, {datetime.now().astimezone().isoformat(timespec='seconds')}",
        *backup_lines(args.stanza, entry, args.full_max_age),
        *archive_lines(args.stanza, row, _ready(args.data)),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pigsalt.agent.backup_metrics", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="pgBackRest's configuration file")
    parser.add_argument("--stanza", required=True)
    parser.add_argument("--user", default="postgres", help="the database superuser")
    parser.add_argument("--data", required=True, help="the data directory")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--full-max-age", type=float, default=None, help="seconds (the schedule's, with a margin)")
    parser.add_argument("--out", required=True, type=Path, help="the .prom file to write")
    args = parser.parse_args(argv)
    started = time.monotonic()
    text = collect(args)
    fileio.write_text_atomic(
        args.out, text + f'pigsalt_backup_metrics_seconds{{stanza="{args.stanza}"}} {time.monotonic() - started:.3f}\n'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
