"""``pigsalt.agent.backup_metrics``: the textfile metrics of a member's repository and archiver,
from ``pgbackrest info``'s entry (the shape ``tests/unit/test_backup_info.py`` documents) and
``pg_stat_archiver``'s row; node_exporter's parser is the reference for the format."""

from __future__ import annotations

from typing import Any

from pigsalt.agent.backup_metrics import archive_lines, backup_lines


def _backup(label: str, kind: str, start: int, stop: int, size: int, delta: int, error: bool = False) -> dict[str, Any]:
    return {
        "label": label,
        "type": kind,
        "error": error,
        "timestamp": {"start": start, "stop": stop},
        "info": {"size": size, "delta": size, "repository": {"size": delta, "delta": delta}},
    }


ENTRY = {
    "name": "pg-test",
    "status": {"code": 0, "message": "ok"},
    "backup": [
        _backup("20261207-100000F", "full", 1000, 1100, 500, 50),
        _backup("20261207-100000F_20261207-110000I", "incr", 2000, 2010, 510, 5),
        _backup("20261207-120000F", "full", 3000, 3120, 520, 52),
        _backup("20261207-130000F", "full", 4000, 4100, 530, 53, error=True),
    ],
}


def _values(lines: list[str]) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines}


def test_the_newest_good_backup_of_each_type_and_the_repository_size() -> None:
    found = _values(backup_lines("pg-test", ENTRY, 95040.0))
    assert found == {
        'pigsalt_backup_info_up{stanza="pg-test"}': 1,
        'pigsalt_backup_full_max_age_seconds{stanza="pg-test"}': 95040,
        'pigsalt_backup_count{stanza="pg-test"}': 3,
        'pigsalt_backup_repository_bytes{stanza="pg-test"}': 107,
        'pigsalt_backup_last_good_seconds{stanza="pg-test",type="full"}': 3120,
        'pigsalt_backup_last_duration_seconds{stanza="pg-test",type="full"}': 120,
        'pigsalt_backup_last_size_bytes{stanza="pg-test",type="full"}': 520,
        'pigsalt_backup_last_good_seconds{stanza="pg-test",type="incr"}': 2010,
        'pigsalt_backup_last_duration_seconds{stanza="pg-test",type="incr"}': 10,
        'pigsalt_backup_last_size_bytes{stanza="pg-test",type="incr"}': 510,
    }


def test_an_unreachable_repository_is_down_with_nothing_else_invented() -> None:
    assert _values(backup_lines("pg-test", None, None)) == {
        'pigsalt_backup_info_up{stanza="pg-test"}': 0,
        'pigsalt_backup_count{stanza="pg-test"}': 0,
        'pigsalt_backup_repository_bytes{stanza="pg-test"}': 0,
    }
    refused = {"name": "pg-test", "status": {"code": 99, "message": "access denied"}, "backup": []}
    assert _values(backup_lines("pg-test", refused, None))['pigsalt_backup_info_up{stanza="pg-test"}'] == 0
    empty = {"name": "pg-test", "status": {"code": 2, "message": "no valid backups"}, "backup": []}
    assert _values(backup_lines("pg-test", empty, None))['pigsalt_backup_info_up{stanza="pg-test"}'] == 1


def test_the_archiver_row_and_the_waiting_segments() -> None:
    found = _values(archive_lines("pg-test", "42|3|1765101600.5|1765101500|t\n", 7))
    assert found == {
        'pigsalt_archive_primary{stanza="pg-test"}': 1,
        'pigsalt_archive_archived_total{stanza="pg-test"}': 42,
        'pigsalt_archive_failed_total{stanza="pg-test"}': 3,
        'pigsalt_archive_last_archived_seconds{stanza="pg-test"}': 1765101600.5,
        'pigsalt_archive_last_failed_seconds{stanza="pg-test"}': 1765101500,
        'pigsalt_archive_ready_segments{stanza="pg-test"}': 7,
    }
    assert archive_lines("pg-test", None, 0) == []
