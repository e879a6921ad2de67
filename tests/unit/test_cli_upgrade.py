"""`pigsalt upgrade` against a fake Salt: the order of the steps, the confirmation, the exit codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from pigsalt import orch
from pigsalt.cli import main

ITEMS = {
    "node-4": {"pigsty:pg:cluster": "pg-deb12", "pigsty:pg:version": 15, "pigsty:pg:upgrade_from": None},
    "node-6": {"pigsty:pg:cluster": "pg-deb13", "pigsty:pg:version": 17, "pigsty:pg:upgrade_from": "pg-deb12"},
}
CUT = {"freeze_seconds": 0.1, "catch_up_seconds": 0.2, "sessions_ended": 3, "sequences": 2}


class FakeSalt:
    """Answers the salt calls `pigsalt upgrade` makes; records the functions called, in order."""

    def __init__(self, blockers: Sequence[str] = (), grant: str | None = None) -> None:
        self.blockers = list(blockers)
        self.grant = {"node-4": None, "node-6": grant}
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        function = next(a for a in argv if "." in a and not a.startswith("-") and ":" not in a)
        minion = argv[argv.index(function) - 1]
        self.calls.append(function)
        answers: dict[str, Any] = {
            "pillar.item": ITEMS,
            "patroni.is_leader": {"node-6": True},
            "patroni.config": {minion: {"pigsalt_vip": self.grant.get(minion)}},
            "patroni.patch_config": {minion: {}},
            "pgupgrade.check": {"node-6": {"databases": ["legacy"], "blockers": self.blockers}},
            "pgupgrade.start": {"node-6": {"databases": {"legacy": "schema copied, subscribed"}}},
            "pgupgrade.progress": {
                "node-6": {"databases": {"legacy": {"subscribed": True, "tables": 3, "ready": 3, "behind_bytes": 0}}}
            },
            "pgupgrade.cutover": {"node-6": CUT},
            "pgupgrade.finish": {"node-6": {"finished": True}},
            "pgupgrade.abort": {"node-6": {"aborted": True}},
        }
        return 0, json.dumps(answers[function]), ""


def _run(monkeypatch: pytest.MonkeyPatch, salt: FakeSalt, *args: str, given: str | None = None) -> Any:
    monkeypatch.setattr(orch, "local_runner", salt)
    return CliRunner().invoke(main, ["upgrade", "pg-deb12", "--to", "17", *args], input=given)


def test_the_dry_run_lists_blockers_exits_1_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt(blockers=["database legacy: no primary key nor replica identity on public.notes"])
    result = _run(monkeypatch, salt, "--check")
    assert result.exit_code == 1
    assert "blocked: database legacy: no primary key" in result.output
    assert "pgupgrade.start" not in salt.calls


def test_a_clean_dry_run_exits_0_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt()
    result = _run(monkeypatch, salt, "--check")
    assert result.exit_code == 0, result.output
    assert "nothing blocks" in result.output
    assert not {"pgupgrade.start", "pgupgrade.cutover", "patroni.patch_config"} & set(salt.calls)


def test_without_the_typed_name_it_stops_before_the_cutover(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt()
    result = _run(monkeypatch, salt, given="pg-deb13\n")
    assert result.exit_code == 2
    assert "not confirmed" in result.output
    assert "pgupgrade.start" in salt.calls
    assert "pgupgrade.cutover" not in salt.calls and "patroni.patch_config" not in salt.calls


def test_typed_name_runs_the_cutover_then_moves_the_vip_then_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt()
    result = _run(monkeypatch, salt, given="pg-deb12\n")
    assert result.exit_code == 0, result.output
    steps = [c for c in salt.calls if c.startswith("pgupgrade.") or c == "patroni.patch_config"]
    assert steps == [
        "pgupgrade.check",
        "pgupgrade.start",
        "pgupgrade.progress",
        "pgupgrade.cutover",
        "patroni.patch_config",
        "patroni.patch_config",
        "pgupgrade.finish",
    ]
    assert "cut over in" in result.output and "3 sessions ended" in result.output


def test_after_the_cutover_a_rerun_only_cleans_up_and_abort_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt(grant="granted")
    again = _run(monkeypatch, salt, "--confirm", "pg-deb12")
    assert again.exit_code == 0 and "already cut over" in again.output
    assert [c for c in salt.calls if c.startswith("pgupgrade.")] == ["pgupgrade.finish"]
    back = _run(monkeypatch, FakeSalt(grant="granted"), "--abort")
    assert back.exit_code == 2 and "no way back" in back.output


def test_abort_before_the_cutover_calls_abort_only(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = FakeSalt()
    result = _run(monkeypatch, salt, "--abort")
    assert result.exit_code == 0, result.output
    assert [c for c in salt.calls if c.startswith("pgupgrade.")] == ["pgupgrade.abort"]
