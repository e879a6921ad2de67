"""What ``pgbackrest info --output=json`` says (pgBackRest 2.55), and what it means for a restore.

``parse`` turns the printed JSON (an array of stanzas, one per cluster) into frozen dataclasses,
checking only the fields this module reads and naming the first one that is missing or of the
wrong type. ``window``, ``check_target`` and ``find_backup`` answer the restore questions;
``rows`` and ``render`` are ``pigsalt backup list`` (``--json`` and text).

``info`` has no time for the WAL it holds (only segment names), so the end of the restorable
window comes from the caller: the primary's ``pg_stat_archiver.last_archived_time``.
A backup with ``error: true`` (pgBackRest found page checksum errors while copying it) is listed
but never counted as something to restore from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pigsalt.errors import PigsaltError

__all__ = [
    "Backup",
    "Stanza",
    "Window",
    "check_target",
    "find_backup",
    "human_size",
    "parse",
    "render",
    "rows",
    "window",
]

_SOURCE = "pgbackrest info"
_TYPES = ("full", "diff", "incr")


@dataclass(frozen=True)
class Backup:
    """One backup set. ``repo_size`` is ``None`` for a block-incremental backup, whose size in the
    repository pgBackRest does not report (it gives ``size-map`` instead)."""

    label: str
    type: str
    start: datetime
    stop: datetime
    size: int
    repo_size: int | None
    wal_start: str | None
    wal_stop: str | None
    prior: str | None
    error: bool


@dataclass(frozen=True)
class Stanza:
    """One stanza: its status, its backups from the oldest to the newest by stop time, and the
    oldest and newest WAL segments archived for the current database."""

    name: str
    status_code: int
    status_message: str
    backups: tuple[Backup, ...]
    wal_min: str | None
    wal_max: str | None


@dataclass(frozen=True)
class Window:
    """The times a point-in-time restore can reach; both ``None`` when there is nothing to restore."""

    earliest: datetime | None
    latest: datetime | None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _fail(path: str, problem: str) -> PigsaltError:
    return PigsaltError(f"{_SOURCE}: {path} {problem}")


def _member(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise _fail(f"{path}.{key}", "is missing")
    return obj[key]


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"is {_kind(value)}, not an object")
    return value


def _list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = _member(obj, key, path)
    if not isinstance(value, list):
        raise _fail(f"{path}.{key}", f"is {_kind(value)}, not an array")
    return value


def _sub(obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    return _obj(_member(obj, key, path), f"{path}.{key}")


def _int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = _member(obj, key, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}.{key}", f"is {_kind(value)}, not an integer")
    return value


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _member(obj, key, path)
    if not isinstance(value, str):
        raise _fail(f"{path}.{key}", f"is {_kind(value)}, not a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """A key pgBackRest always writes, as ``null`` when it has no value (``prior``, WAL names)."""
    return None if _member(obj, key, path) is None else _str(obj, key, path)


def _time(obj: Mapping[str, Any], key: str, path: str) -> datetime:
    seconds = _int(obj, key, path)
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _fail(f"{path}.{key}", f"is {seconds}, not a time") from None


def _backup(value: Any, path: str) -> Backup:
    data = _obj(value, path)
    kind = _str(data, "type", path)
    if kind not in _TYPES:
        raise _fail(f"{path}.type", f"is {kind!r}, not one of {', '.join(_TYPES)}")
    stamps = _sub(data, "timestamp", path)
    archive = _sub(data, "archive", path)
    info = _sub(data, "info", path)
    repo = _sub(info, "repository", f"{path}.info")
    # Written only when the error status is known: older backup.info entries have no backup-error.
    error = data.get("error", False)
    if not isinstance(error, bool):
        raise _fail(f"{path}.error", f"is {_kind(error)}, not a boolean")
    return Backup(
        label=_str(data, "label", path),
        type=kind,
        start=_time(stamps, "start", f"{path}.timestamp"),
        stop=_time(stamps, "stop", f"{path}.timestamp"),
        size=_int(info, "size", f"{path}.info"),
        # Left out for a block-incremental backup, which reports size-map instead.
        repo_size=_int(repo, "size", f"{path}.info.repository") if "size" in repo else None,
        wal_start=_opt_str(archive, "start", f"{path}.archive"),
        wal_stop=_opt_str(archive, "stop", f"{path}.archive"),
        prior=_opt_str(data, "prior", path),
        error=error,
    )


def _wal_range(data: Mapping[str, Any], path: str) -> tuple[str | None, str | None]:
    """The oldest and newest WAL of the current database over all repositories.

    ``db`` lists each repository's database history; the current database is the one with the
    highest id in its repository (ids differ between repositories: a repository added after an
    upgrade starts at 1), and ``archive`` entries point back to it by ``database.{id,repo-key}``.
    """
    current: dict[int, int] = {}
    for i, value in enumerate(_list(data, "db", path)):
        db = _obj(value, f"{path}.db[{i}]")
        key, db_id = _int(db, "repo-key", f"{path}.db[{i}]"), _int(db, "id", f"{path}.db[{i}]")
        current[key] = max(db_id, current.get(key, db_id))
    mins: list[str] = []
    maxes: list[str] = []
    for i, value in enumerate(_list(data, "archive", path)):
        where = f"{path}.archive[{i}]"
        archive = _obj(value, where)
        database = _sub(archive, "database", where)
        key = _int(database, "repo-key", f"{where}.database")
        if current.get(key) != _int(database, "id", f"{where}.database"):
            continue
        low, high = _opt_str(archive, "min", where), _opt_str(archive, "max", where)
        mins += [low] if low else []
        maxes += [high] if high else []
    # Segment names are fixed-width hex, timeline first: text order is WAL order.
    return (min(mins) if mins else None, max(maxes) if maxes else None)


def _stanza(value: Any, index: int) -> Stanza:
    data = _obj(value, f"[{index}]")
    name = _str(data, "name", f"[{index}]")
    status = _sub(data, "status", name)
    backups = [_backup(b, f"{name}.backup[{i}]") for i, b in enumerate(_list(data, "backup", name))]
    wal_min, wal_max = _wal_range(data, name)
    return Stanza(
        name=name,
        status_code=_int(status, "code", f"{name}.status"),
        status_message=_str(status, "message", f"{name}.status"),
        backups=tuple(sorted(backups, key=lambda b: (b.stop, b.label))),
        wal_min=wal_min,
        wal_max=wal_max,
    )


def parse(text: str) -> list[Stanza]:
    """The stanzas in what ``pgbackrest info --output=json`` printed; a ``PigsaltError`` naming the
    first field that is missing or of the wrong type when the text is not that."""
    try:
        data = json.loads(text)
    except ValueError as err:
        why = f"{err.msg} at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else err
        raise PigsaltError(f"{_SOURCE}: the output is not JSON ({why})") from None
    if not isinstance(data, list):
        raise PigsaltError(f"{_SOURCE}: the output is {_kind(data)}, not an array of stanzas")
    return [_stanza(s, i) for i, s in enumerate(data)]


def _good(stanza: Stanza) -> list[Backup]:
    return [b for b in stanza.backups if not b.error]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(stanza: Stanza, latest_archived: datetime | None) -> Window:
    """The restorable window: from the stop of the oldest good backup (a restore replays WAL from
    a backup that ended before the target) to ``latest_archived`` (the primary's
    ``pg_stat_archiver.last_archived_time``, aware), or the newest good backup's stop without it."""
    good = _good(stanza)
    if not good:
        return Window(None, None)
    newest = good[-1].stop
    # With archive-check (the default) a backup ends only once its last WAL is in the archive, so
    # its stop is reachable even when the archiver's time is older (statistics reset, a new primary).
    latest = newest if latest_archived is None else max(latest_archived, newest)
    return Window(good[0].stop, latest)


def check_target(stanza: Stanza, target: datetime, latest_archived: datetime | None) -> Backup:
    """The backup a restore to ``target`` starts from: the newest good one that stopped at or before
    it. A ``PigsaltError`` naming the window when ``target`` is outside it."""
    if target.tzinfo is None:
        raise PigsaltError(f"restore target {target.isoformat()} has no time zone (add Z or +hh:mm)")
    span = window(stanza, latest_archived)
    if span.earliest is None or span.latest is None:
        raise PigsaltError(f"{stanza.name} has no complete backup: nothing to restore from")
    if not span.earliest <= target <= span.latest:
        raise PigsaltError(
            f"restore target {_iso(target)} is outside {stanza.name}'s window "
            f"{_iso(span.earliest)} .. {_iso(span.latest)}"
        )
    return [b for b in _good(stanza) if b.stop <= target][-1]


def find_backup(stanza: Stanza, label: str) -> Backup:
    """The backup called ``label`` (with an error or not: the caller decides what to do with it)."""
    for backup in stanza.backups:
        if backup.label == label:
            return backup
    known = ", ".join(b.label for b in stanza.backups) or "none"
    raise PigsaltError(f"{stanza.name} has no backup {label} (its backups: {known})")


def rows(stanzas: Sequence[Stanza], latest_archived: Mapping[str, datetime | None]) -> list[dict[str, Any]]:
    """``pigsalt backup list --json``: one row per backup, then one ``window`` row per cluster.
    ``latest_archived``: each cluster's primary's last archived time (a missing cluster: ``None``)."""
    found: list[dict[str, Any]] = []
    for stanza in stanzas:
        found += [
            {
                "cluster": stanza.name,
                "label": b.label,
                "type": b.type,
                "start": _iso(b.start),
                "stop": _iso(b.stop),
                "duration_s": int((b.stop - b.start).total_seconds()),
                "size": b.size,
                "repo_size": b.repo_size,
                "wal_start": b.wal_start,
                "wal_stop": b.wal_stop,
                "error": b.error,
            }
            for b in stanza.backups
        ]
        span = window(stanza, latest_archived.get(stanza.name))
        found.append(
            {
                "cluster": stanza.name,
                "window": {
                    "earliest": _iso(span.earliest) if span.earliest else None,
                    "latest": _iso(span.latest) if span.latest else None,
                },
            }
        )
    return found


def human_size(count: int | None) -> str:
    """A byte count as people read it (``1.2 GiB``); ``n/a`` for an unknown size."""
    if count is None:
        return "n/a"
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(count)  # pragma: no cover - the loop always returns


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _table(table: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]


def render(stanzas: Sequence[Stanza], latest_archived: Mapping[str, datetime | None]) -> str:
    """``pigsalt backup list`` as text: per cluster its status, its backups and its restorable window."""
    lines: list[str] = []
    for stanza in stanzas:
        lines.append(f"{stanza.name}: {stanza.status_message}")
        table = [["label", "type", "started", "duration", "size", "in repo", "WAL range"]]
        for b in stanza.backups:
            wal = f"{b.wal_start} .. {b.wal_stop}" if b.wal_start and b.wal_stop else "-"
            table.append(
                [
                    b.label + (" (error)" if b.error else ""),
                    b.type,
                    _iso(b.start),
                    _duration(int((b.stop - b.start).total_seconds())),
                    human_size(b.size),
                    human_size(b.repo_size),
                    wal,
                ]
            )
        lines += _table(table) if stanza.backups else ["  no backups"]
        span = window(stanza, latest_archived.get(stanza.name))
        if span.earliest and span.latest:
            lines.append(f"  restorable: {_iso(span.earliest)} .. {_iso(span.latest)}")
        else:
            lines.append("  restorable: nothing (no complete backup)")
        lines.append("")
    return "\n".join(lines).rstrip("\n")
