"""``pigsalt backup``: what it asks the master, and what it prints (the master answers from a stub)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from pigsalt import orch
from pigsalt.cli import main

CLUSTERS = {"pg-test": {"primary": "node-1", "replicas": ["node-2", "node-3"]}}
BACKUP = {
    "label": "20261207-101500F_20261207-102000I",
    "type": "incr",
    "timestamp": {"start": 1796638800, "stop": 1796638812},
    "archive": {"start": "000000010000000000000005", "stop": "000000010000000000000005"},
    "info": {"size": 25_000_000, "delta": 1_000_000, "repository": {"size": 3_000_000, "delta": 200_000}},
    "database": {"id": 1, "repo-key": 1},
    "prior": "20261207-101500F",
    "reference": ["20261207-101500F"],
    "lsn": {"start": "0/5000028", "stop": "0/5000100"},
    "error": False,
}
FULL = {**BACKUP, "label": "20261207-101500F", "type": "full", "prior": None, "reference": None}
INFO = {
    "name": "pg-test",
    "status": {"code": 0, "message": "ok", "lock": {"backup": {"held": False}}},
    "cipher": "aes-256-cbc",
    "db": [{"id": 1, "repo-key": 1, "system-id": 7, "version": "17"}],
    "repo": [{"key": 1, "cipher": "aes-256-cbc", "status": {"code": 0, "message": "ok"}}],
    "archive": [
        {
            "id": "17-1",
            "database": {"id": 1, "repo-key": 1},
            "min": "000000010000000000000003",
            "max": "000000010000000000000009",
        }
    ],
    "backup": [FULL],
}


class Master:
    """The master's answers: ``pigsalt.clusters`` and the members' pgbackrest functions."""

    def __init__(self, leader: str | None = "node-1") -> None:
        self.leader = leader
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        if "pigsalt.clusters" in argv:
            return 0, json.dumps(CLUSTERS), ""
        minions = argv[argv.index("-L") + 1].split(",")
        answers: dict[str, Any]
        if "pgbackrest.backup" in argv:
            answers = {
                m: {"leader": True, "backup": BACKUP, "seconds": 4.2} if m == self.leader else {"leader": False}
                for m in minions
            }
        elif "pgbackrest.info" in argv:
            answers = dict.fromkeys(minions, INFO)
        else:  # pgbackrest.archiver
            answers = {m: {"last_archived_time": "2026-12-07T10:30:00Z", "replica": m != self.leader} for m in minions}
        return 0, json.dumps(answers), ""


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Master:
    fake = Master()
    monkeypatch.setattr(orch, "local_runner", fake)
    return fake


def test_a_backup_is_asked_of_every_member_and_reported_from_the_leader(master: Master):
    result = CliRunner().invoke(main, ["backup", "pg-test", "--type", "incr"])
    assert result.exit_code == 0, result.output
    (call,) = [c for c in master.calls if "pgbackrest.backup" in c]
    assert call[:3] == ["salt", "-L", "node-1,node-2,node-3"] and "type=incr" in call
    assert result.stdout == (
        "pg-test: incr backup 20261207-101500F_20261207-102000I on node-1 in 4.2 s: 23.8 MiB, "
        "2.9 MiB in the repository\n"
    )


def test_the_json_names_the_node_the_time_and_the_backup(master: Master):
    result = CliRunner().invoke(main, ["backup", "take", "pg-test", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"cluster": "pg-test", "node": "node-1", "seconds": 4.2, "backup": BACKUP}


def test_no_leader_is_one_line_and_a_failure(master: Master):
    master.leader = None
    result = CliRunner().invoke(main, ["backup", "pg-test"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == "Error: pg-test: no backup taken: no member is the Patroni leader"


def test_an_unknown_cluster_is_refused_before_any_backup(master: Master):
    result = CliRunner().invoke(main, ["backup", "pg-nope"])
    assert result.exit_code != 0
    assert "Error: cluster 'pg-nope' is not in the inventory (pg-test)" in result.output
    assert not [c for c in master.calls if "pgbackrest.backup" in c]


def test_list_shows_each_backup_and_the_window_to_the_last_archived_wal(master: Master):
    result = CliRunner().invoke(main, ["backup", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows if "label" in r] == ["20261207-101500F"]
    (window,) = [r["window"] for r in rows if "window" in r]
    assert window["latest"] == "2026-12-07T10:30:00Z"
    text = CliRunner().invoke(main, ["backup", "list", "pg-test"])
    assert text.exit_code == 0 and "20261207-101500F" in text.stdout and "restorable:" in text.stdout, text.output
