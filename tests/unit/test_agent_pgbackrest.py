"""pigsalt.agent.pgbackrest and the pigsalt_pgbackrest states, with pgBackRest answered by a stub."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any
from unittest import mock

import pytest

from _states import pigsalt_pgbackrest as states
from pigsalt.agent import AgentError
from pigsalt.agent import pgbackrest as agent

STANZA = agent.Stanza("/etc/pgbackrest/pgbackrest.conf", "pg-test")
FULL = {"label": "20261207-101500F", "type": "full", "error": False}


class Pgbackrest:
    """pgBackRest's answers: ``info`` from ``status`` and ``backups``; ``backup`` adds one."""

    def __init__(self, code: int = 0, backups: list[dict[str, Any]] | None = None, fail: str | None = None) -> None:
        self.code, self.backups, self.fail = code, list(backups or []), fail
        self.commands: list[list[str]] = []

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        command = [a for a in argv[argv.index("--") + 2 :] if not a.startswith(("--config", "--stanza"))]
        self.commands.append(command)
        if self.fail and self.fail in command:
            return subprocess.CompletedProcess(argv, 82, "", "P00  ERROR: [082]: access denied\n")
        if command[-1] == "info":
            entry = {"name": "pg-test", "status": {"code": self.code, "message": "m"}, "backup": self.backups}
            return subprocess.CompletedProcess(argv, 0, json.dumps([entry]), "")
        if command[-1] == "backup":
            self.backups.append({**FULL, "label": f"new-{len(self.backups)}", "type": command[0].split("=")[1]})
        if command[-1] == "stanza-create":
            self.code = 2
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def pgbackrest(monkeypatch: pytest.MonkeyPatch) -> Pgbackrest:
    fake = Pgbackrest()
    monkeypatch.setattr(agent.subprocess, "run", fake)
    return fake


def test_commands_run_as_the_dbsu_with_the_config_and_the_stanza(pgbackrest: Pgbackrest):
    assert STANZA.argv("info") == [
        *("runuser", "-u", "postgres", "--", "/usr/bin/pgbackrest"),
        *("--config=/etc/pgbackrest/pgbackrest.conf", "--stanza=pg-test", "info"),
    ]


@pytest.mark.parametrize(("code", "exists"), [(0, True), (2, True), (1, False), (3, False)])
def test_the_stanza_exists_unless_info_says_its_data_is_missing(pgbackrest: Pgbackrest, code: int, exists: bool):
    pgbackrest.code = code
    assert agent.stanza_exists(STANZA) is exists


def test_another_status_is_an_error_with_pgbackrests_message(pgbackrest: Pgbackrest):
    pgbackrest.code = 4
    with pytest.raises(AgentError, match=r"^pgbackrest info \(pg-test\): m$"):
        agent.stanza_exists(STANZA)


def test_a_failure_is_one_line_with_pgbackrests_last_line(pgbackrest: Pgbackrest):
    pgbackrest.fail = "info"
    with pytest.raises(AgentError) as err:
        agent.info(STANZA)
    assert str(err.value) == "pgbackrest info (pg-test) exited 82: P00  ERROR: [082]: access denied"


def test_a_backup_returns_the_new_entry(pgbackrest: Pgbackrest):
    pgbackrest.backups = [FULL]
    made = agent.backup(STANZA, "incr")
    assert made["type"] == "incr" and made["label"] == "new-1"
    with pytest.raises(AgentError, match="backup type 'weekly'"):
        agent.backup(STANZA, "weekly")


def wire(test: bool, leader: bool = True) -> None:
    states.__salt__ = {"patroni.is_leader": mock.Mock(return_value=leader)}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]


def test_the_stanza_is_created_once_on_the_leader(pgbackrest: Pgbackrest):
    wire(test=False)
    pgbackrest.code = 1
    ret = states.stanza_present("pg-test", STANZA.config)
    assert ret["result"] is True and ret["changes"] == {"stanza": {"old": None, "new": "pg-test"}}
    again = states.stanza_present("pg-test", STANZA.config)
    assert again["changes"] == {} and again["comment"] == "stanza pg-test is in the repository"
    assert [c[-1] for c in pgbackrest.commands].count("stanza-create") == 1


def test_test_mode_and_replicas_change_nothing(pgbackrest: Pgbackrest):
    pgbackrest.code = 1
    wire(test=True)
    assert states.stanza_present("pg-test", STANZA.config)["result"] is None
    assert states.backup_present("pg-test", STANZA.config)["result"] is None
    wire(test=False, leader=False)
    assert states.stanza_present("pg-test", STANZA.config)["changes"] == {}
    assert states.backup_present("pg-test", STANZA.config)["changes"] == {}
    assert not [c for c in pgbackrest.commands if c[-1] in ("stanza-create", "backup")]


def test_a_full_backup_is_taken_only_when_none_is_good(pgbackrest: Pgbackrest):
    wire(test=False)
    pgbackrest.backups = [{**FULL, "error": True}]
    ret = states.backup_present("pg-test", STANZA.config)
    assert ret["result"] is True and ret["changes"] == {"backup": {"old": None, "new": "new-1"}}
    again = states.backup_present("pg-test", STANZA.config)
    assert again["changes"] == {} and "has 1 backups" in again["comment"]
