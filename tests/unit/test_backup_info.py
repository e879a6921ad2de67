"""``pigsalt.backup.info``: parsing ``pgbackrest info --output=json``, the restorable window, the
backup a restore starts from, and ``pigsalt backup list`` (JSON rows and text).

The fixtures have the shape pgBackRest 2.55 prints, checked against its source at tag
release/2.55.1 (commit 665f261ea4e8a89d116a22e9fb5ad12676665622):
- src/command/info/info.c: stanzaStatus() 188-259 (status.code/message, status.lock.backup.held);
  archiveDbList() 390-401 (archive[].database.{id,repo-key}, id "17-1", min/max null when no WAL);
  backupListAdd() 411-637 (label, type, prior, reference, archive.start/stop, database, info.size/delta,
  info.repository.size left out when size-map is set (506), timestamp.start/stop in epoch seconds (521),
  error only when known (524), lsn, annotation); backupList() 678 (sorted by timestamp.stop);
  stanzaInfoList() 792 (the current database is the newest of each repository's db history).
- test/src/module/command/infoTest.c: the JSON expected at 1071-1475 ("json - multiple stanzas, some
  with valid backups, ...": multi-repo db ids, error true/false, size-map, lock, no-backup stanza) and
  157-194 ("json - other error, single repo": empty db/archive/backup arrays, status code 99).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from pigsalt.backup import info
from pigsalt.backup.info import Backup, Stanza, Window
from pigsalt.errors import PigsaltError

FULL = "20261207-100000F"
DIFF = "20261207-100000F_20261207-113000D"
INCR = "20261207-100000F_20261207-113500I"
GIB_1_2 = 1_288_490_189  # 1.2 GiB
MIB_300 = 314_572_800


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch(text: str) -> int:
    return int(at(text).timestamp())


def backup(
    label: str,
    kind: str,
    start: str,
    stop: str,
    wal: tuple[str, str],
    prior: str | None = None,
    repo_key: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A backup as backupListAdd() writes it (without ``error``: a backup.info entry from before it)."""
    return {
        "archive": {"start": wal[0], "stop": wal[1]},
        "backrest": {"format": 5, "version": "2.55.1"},
        "database": {"id": 1, "repo-key": repo_key},
        "info": {"delta": GIB_1_2, "repository": {"delta": 3100, "size": MIB_300}, "size": GIB_1_2},
        "label": label,
        "prior": prior,
        "reference": None if prior is None else [FULL],
        "timestamp": {"start": epoch(start), "stop": epoch(stop)},
        "type": kind,
        **extra,
    }


def stanza(
    name: str,
    backups: list[dict[str, Any]],
    archive: list[dict[str, Any]],
    db: list[dict[str, Any]],
    code: int = 0,
    message: str = "ok",
) -> dict[str, Any]:
    return {
        "archive": archive,
        "backup": backups,
        "cipher": "none",
        "db": db,
        "name": name,
        "repo": [{"cipher": "none", "key": 1, "status": {"code": code, "message": message}}],
        "status": {"code": code, "lock": {"backup": {"held": False}}, "message": message},
    }


def archive(archive_id: str, db_id: int, repo_key: int, low: str | None, high: str | None) -> dict[str, Any]:
    return {"database": {"id": db_id, "repo-key": repo_key}, "id": archive_id, "max": high, "min": low}


def db(db_id: int, repo_key: int, version: str, system_id: int = 7447000000000000001) -> dict[str, Any]:
    return {"id": db_id, "repo-key": repo_key, "system-id": system_id, "version": version}


INCR_BLOCK = backup(
    INCR, "incr", "2026-12-07T11:35:00Z", "2026-12-07T11:35:30Z",
    ("000000010000000000000008", "000000010000000000000008"), prior=DIFF, error=False,
    lsn={"start": "0/8000028", "stop": "0/8000138"}, annotation={"source": "pigsalt"},
)  # fmt: skip
# A block-incremental backup: size-map instead of the repository size.
INCR_BLOCK["info"]["repository"] = {"delta": 346, "delta-map": 12, "size-map": 100}
INCR_BLOCK["reference"] = [FULL, DIFF]

PG_TEST = stanza(
    "pg-test",
    [
        backup(FULL, "full", "2026-12-07T10:00:00Z", "2026-12-07T11:02:03Z",
               ("000000010000000000000003", "000000010000000000000004")),
        # Listed out of order on purpose: the parser sorts by stop time itself.
        INCR_BLOCK,
        backup(DIFF, "diff", "2026-12-07T11:30:00Z", "2026-12-07T11:31:10Z",
               ("000000010000000000000006", "000000010000000000000006"), prior=FULL, error=True),
    ],
    [archive("17-1", 1, 1, "000000010000000000000003", "00000001000000000000000A")],
    [db(1, 1, "17")],
)  # fmt: skip
# No backup yet: min/max are null for the current database (infoTest.c, stanza2).
PG_META = stanza(
    "pg-meta", [], [archive("17-1", 1, 1, None, None)], [db(1, 1, "17", 7447000000000000002)], 2, "no valid backups"
)
# Two repositories after an upgrade from 16, as infoTest.c's stanza1: repo 1 holds db 1 (16) and db 2
# (17, current); repo 2, added later, holds only 17 as its db 1. The 16 archive's newer timeline must
# not count as the current database's WAL.
PG_SRC = stanza(
    "pg-src",
    [backup("20261201-010000F", "full", "2026-12-01T01:00:00Z", "2026-12-01T01:10:00Z",
            ("000000010000000000000002", "000000010000000000000002"), repo_key=2)],
    [
        archive("16-1", 1, 1, "000000010000000000000001", "000000020000000000000009"),
        archive("17-2", 2, 1, "000000010000000000000002", "000000010000000000000005"),
        archive("17-1", 1, 2, "000000010000000000000003", "000000010000000000000004"),
    ],
    [db(1, 1, "16", 7447000000000000009), db(2, 1, "17"), db(1, 2, "17")],
)  # fmt: skip
OUTPUT = json.dumps([PG_META, PG_SRC, PG_TEST], sort_keys=True)

FULL_B = Backup(
    label=FULL, type="full", start=at("2026-12-07T10:00:00Z"), stop=at("2026-12-07T11:02:03Z"),
    size=GIB_1_2, repo_size=MIB_300, wal_start="000000010000000000000003", wal_stop="000000010000000000000004",
    prior=None, error=False,
)  # fmt: skip
DIFF_B = Backup(
    label=DIFF, type="diff", start=at("2026-12-07T11:30:00Z"), stop=at("2026-12-07T11:31:10Z"),
    size=GIB_1_2, repo_size=MIB_300, wal_start="000000010000000000000006", wal_stop="000000010000000000000006",
    prior=FULL, error=True,
)  # fmt: skip
INCR_B = Backup(
    label=INCR, type="incr", start=at("2026-12-07T11:35:00Z"), stop=at("2026-12-07T11:35:30Z"),
    size=GIB_1_2, repo_size=None, wal_start="000000010000000000000008", wal_stop="000000010000000000000008",
    prior=DIFF, error=False,
)  # fmt: skip
ARCHIVED = at("2026-12-07T11:40:00Z")


def pg_test() -> Stanza:
    return next(s for s in info.parse(OUTPUT) if s.name == "pg-test")


def test_parse_reads_every_stanza_with_its_backups_sorted_by_stop_time():
    meta, src, test = info.parse(OUTPUT)
    assert test == Stanza(
        name="pg-test",
        status_code=0,
        status_message="ok",
        backups=(FULL_B, DIFF_B, INCR_B),
        wal_min="000000010000000000000003",
        wal_max="00000001000000000000000A",
    )
    assert meta == Stanza("pg-meta", 2, "no valid backups", (), None, None)
    assert (src.name, [b.label for b in src.backups]) == ("pg-src", ["20261201-010000F"])


def test_the_wal_range_is_the_current_database_s_over_all_repositories():
    src = info.parse(OUTPUT)[1]
    assert (src.wal_min, src.wal_max) == ("000000010000000000000002", "000000010000000000000005")


def test_times_are_aware_utc():
    assert pg_test().backups[0].stop.utcoffset() == timedelta(0)
    assert pg_test().backups[0].stop.isoformat() == "2026-12-07T11:02:03+00:00"


def test_a_stanza_that_pgbackrest_could_not_read_has_no_backup_and_no_wal():
    # infoTest.c "json - other error, single repo": every array empty, status 99 "other".
    text = json.dumps([stanza("pg-test", [], [], [], 99, "other")])
    assert info.parse(text) == [Stanza("pg-test", 99, "other", (), None, None)]
    assert info.parse("[]") == []


DELETE = object()


def broken(path: str, value: Any) -> str:
    """``OUTPUT`` with pg-test's field at ``path`` (dotted, list indexes as numbers) set or deleted."""
    data = json.loads(OUTPUT)
    node: Any = data[2]
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("WARN: unable to open log file", "the output is not JSON (Expecting value at line 1 column 1)"),
        ("", "the output is not JSON (Expecting value at line 1 column 1)"),
        ('{"name": "pg-test"}', "the output is an object, not an array of stanzas"),
        ("[1]", "[0] is a number, not an object"),
        ('[{"status": {}}]', "[0].name is missing"),
        (broken("status", DELETE), "pg-test.status is missing"),
        (broken("status.code", "0"), "pg-test.status.code is a string, not an integer"),
        (broken("backup", {}), "pg-test.backup is an object, not an array"),
        (broken("backup.0.timestamp.stop", DELETE), "pg-test.backup[0].timestamp.stop is missing"),
        (broken("backup.0.timestamp.start", None), "pg-test.backup[0].timestamp.start is null, not an integer"),
        (broken("backup.0.timestamp.stop", 10**20), f"pg-test.backup[0].timestamp.stop is {10**20}, not a time"),
        (broken("backup.1.info.size", "1.2 GiB"), "pg-test.backup[1].info.size is a string, not an integer"),
        (broken("backup.1.info.repository", DELETE), "pg-test.backup[1].info.repository is missing"),
        (broken("backup.0.type", "snap"), "pg-test.backup[0].type is 'snap', not one of full, diff, incr"),
        (broken("backup.2.error", "yes"), "pg-test.backup[2].error is a string, not a boolean"),
        (broken("backup.2.prior", DELETE), "pg-test.backup[2].prior is missing"),
        (broken("backup.0.archive.stop", 4), "pg-test.backup[0].archive.stop is a number, not a string"),
        (broken("backup.0.label", True), "pg-test.backup[0].label is a boolean, not a string"),
        (broken("db.0.repo-key", DELETE), "pg-test.db[0].repo-key is missing"),
        (broken("archive.0.database", DELETE), "pg-test.archive[0].database is missing"),
        (broken("archive.0.max", ["x"]), "pg-test.archive[0].max is an array, not a string"),
    ],
)  # fmt: skip
def test_what_is_not_pgbackrest_s_output_is_one_line_naming_the_field(text: str, message: str):
    with pytest.raises(PigsaltError) as err:
        info.parse(text)
    assert err.value.message == "pgbackrest info: " + message
    assert err.value.exit_code == 2


def with_errors(s: Stanza, *labels: str) -> Stanza:
    return dataclasses.replace(s, backups=tuple(dataclasses.replace(b, error=b.label in labels) for b in s.backups))


def test_the_window_runs_from_the_oldest_good_backup_s_stop_to_the_last_archived_wal():
    assert info.window(pg_test(), ARCHIVED) == Window(at("2026-12-07T11:02:03Z"), ARCHIVED)


def test_without_the_archiver_s_time_the_window_ends_at_the_newest_good_backup():
    assert info.window(pg_test(), None) == Window(at("2026-12-07T11:02:03Z"), at("2026-12-07T11:35:30Z"))


def test_an_archiver_time_older_than_the_newest_backup_does_not_shorten_the_window():
    assert info.window(pg_test(), at("2026-12-07T11:00:00Z")).latest == at("2026-12-07T11:35:30Z")


def test_backups_with_errors_do_not_open_or_close_the_window():
    s = with_errors(pg_test(), FULL, INCR)  # only the diff is good
    assert info.window(s, None) == Window(at("2026-12-07T11:31:10Z"), at("2026-12-07T11:31:10Z"))


def test_no_good_backup_no_window():
    assert info.window(with_errors(pg_test(), FULL, DIFF, INCR), ARCHIVED) == Window(None, None)
    assert info.window(info.parse(OUTPUT)[0], ARCHIVED) == Window(None, None)


@pytest.mark.parametrize(
    ("target", "label"),
    [
        ("2026-12-07T11:02:03Z", FULL),  # exactly the full's stop: the earliest point
        ("2026-12-07T11:33:00Z", FULL),  # after the diff, which has errors: the full is the base
        ("2026-12-07T11:35:29Z", FULL),
        ("2026-12-07T11:35:30Z", INCR),  # exactly the incr's stop
        ("2026-12-07T12:40:00+01:00", INCR),  # the window's end, in another zone
    ],
)
def test_check_target_gives_the_newest_good_backup_that_stopped_by_then(target: str, label: str):
    assert info.check_target(pg_test(), at(target), ARCHIVED).label == label


@pytest.mark.parametrize(
    ("target", "latest", "message"),
    [
        (
            "2026-12-07T10:00:00Z",
            ARCHIVED,
            "2026-12-07T10:00:00Z is outside pg-test's window {} .. 2026-12-07T11:40:00Z",
        ),
        (
            "2026-12-07T11:02:02Z",
            ARCHIVED,
            "2026-12-07T11:02:02Z is outside pg-test's window {} .. 2026-12-07T11:40:00Z",
        ),
        (
            "2026-12-07T11:40:01Z",
            ARCHIVED,
            "2026-12-07T11:40:01Z is outside pg-test's window {} .. 2026-12-07T11:40:00Z",
        ),
        (
            "2026-12-07T12:40:01+01:00",
            ARCHIVED,
            "2026-12-07T11:40:01Z is outside pg-test's window {} .. 2026-12-07T11:40:00Z",
        ),
        ("2026-12-07T11:36:00Z", None, "2026-12-07T11:36:00Z is outside pg-test's window {} .. 2026-12-07T11:35:30Z"),
    ],
)
def test_a_target_outside_the_window_names_the_window(target: str, latest: datetime | None, message: str):
    with pytest.raises(PigsaltError) as err:
        info.check_target(pg_test(), at(target), latest)
    assert err.value.message == "restore target " + message.format("2026-12-07T11:02:03Z")


def test_a_target_with_only_failed_backups_has_nothing_to_restore_from():
    with pytest.raises(PigsaltError) as err:
        info.check_target(with_errors(pg_test(), FULL, DIFF, INCR), at("2026-12-07T11:36:00Z"), ARCHIVED)
    assert err.value.message == "pg-test has no complete backup: nothing to restore from"


def test_a_target_without_a_time_zone_is_refused():
    with pytest.raises(PigsaltError) as err:
        info.check_target(pg_test(), datetime(2026, 12, 7, 11, 36), ARCHIVED)
    assert err.value.message == "restore target 2026-12-07T11:36:00 has no time zone (add Z or +hh:mm)"


def test_find_backup_by_label_even_one_with_errors():
    assert info.find_backup(pg_test(), DIFF) == DIFF_B


def test_find_backup_lists_the_labels_when_it_is_not_there():
    with pytest.raises(PigsaltError) as err:
        info.find_backup(pg_test(), "20261208-000000F")
    assert err.value.message == f"pg-test has no backup 20261208-000000F (its backups: {FULL}, {DIFF}, {INCR})"
    with pytest.raises(PigsaltError) as err:
        info.find_backup(info.parse(OUTPUT)[0], FULL)
    assert err.value.message == f"pg-meta has no backup {FULL} (its backups: none)"


def test_rows_are_one_per_backup_and_one_window_per_cluster():
    meta, _, test = info.parse(OUTPUT)
    found = info.rows([test, meta], {"pg-test": ARCHIVED})
    assert found == [
        {"cluster": "pg-test", "label": FULL, "type": "full", "start": "2026-12-07T10:00:00Z",
         "stop": "2026-12-07T11:02:03Z", "duration_s": 3723, "size": GIB_1_2, "repo_size": MIB_300,
         "wal_start": "000000010000000000000003", "wal_stop": "000000010000000000000004", "error": False},
        {"cluster": "pg-test", "label": DIFF, "type": "diff", "start": "2026-12-07T11:30:00Z",
         "stop": "2026-12-07T11:31:10Z", "duration_s": 70, "size": GIB_1_2, "repo_size": MIB_300,
         "wal_start": "000000010000000000000006", "wal_stop": "000000010000000000000006", "error": True},
        {"cluster": "pg-test", "label": INCR, "type": "incr", "start": "2026-12-07T11:35:00Z",
         "stop": "2026-12-07T11:35:30Z", "duration_s": 30, "size": GIB_1_2, "repo_size": None,
         "wal_start": "000000010000000000000008", "wal_stop": "000000010000000000000008", "error": False},
        {"cluster": "pg-test", "window": {"earliest": "2026-12-07T11:02:03Z", "latest": "2026-12-07T11:40:00Z"}},
        {"cluster": "pg-meta", "window": {"earliest": None, "latest": None}},
    ]  # fmt: skip
    assert json.loads(json.dumps(found)) == found


def test_render_shows_each_cluster_s_backups_and_what_it_can_restore():
    meta, _, test = info.parse(OUTPUT)
    wal = "000000010000000000000003 .. 000000010000000000000004"
    assert info.render([test, meta], {"pg-test": ARCHIVED, "pg-meta": ARCHIVED}).splitlines() == [
        "pg-test: ok",
        "  label                                      type  started               duration  size     in repo"
        "    WAL range",
        f"  {FULL}                           full  2026-12-07T10:00:00Z  1h02m     1.2 GiB  300.0 MiB  {wal}",
        f"  {DIFF} (error)  diff  2026-12-07T11:30:00Z  1m10s     1.2 GiB  300.0 MiB"
        "  000000010000000000000006 .. 000000010000000000000006",
        f"  {INCR}          incr  2026-12-07T11:35:00Z  30s       1.2 GiB  n/a"
        "        000000010000000000000008 .. 000000010000000000000008",
        "  restorable: 2026-12-07T11:02:03Z .. 2026-12-07T11:40:00Z",
        "",
        "pg-meta: no valid backups",
        "  no backups",
        "  restorable: nothing (no complete backup)",
    ]


def test_render_without_the_archiver_s_time_and_with_small_sizes():
    test = pg_test()
    small = dataclasses.replace(test, backups=(dataclasses.replace(test.backups[0], size=512, repo_size=1536),))
    text = info.render([small], {})
    assert "  1h02m     512 B  1.5 KiB  " in text
    assert text.endswith("  restorable: 2026-12-07T11:02:03Z .. 2026-12-07T11:02:03Z")
