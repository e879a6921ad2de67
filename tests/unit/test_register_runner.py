"""The ``pigsalt.register`` runner (the reactor's registration) on a fake master: what it asks
the minions to run for each event, and what it refuses. Salt's LocalClient is faked (the real
path runs in tests/e2e/test_monitoring.py); the decision is pigsalt.monitor.registry's."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import salt.client

from pigsalt.cmdb import source
from tests.conftest import copy_example

runner = importlib.import_module("pigsalt.saltext.runners.pigsalt_runner")


class FakeClient:
    """LocalClient.cmd, recorded; meta answers that its discovery directory exists."""

    def __init__(self, ready: bool = True) -> None:
        self.calls: list[tuple[str, str, list[Any], dict[str, Any]]] = []
        self.ready = ready

    def cmd(self, tgt: str, fun: str, arg: list[Any], **kwargs: Any) -> dict[str, Any]:
        self.calls.append((tgt, fun, arg, kwargs))
        if fun == "file.directory_exists":
            return {"meta": self.ready}
        if fun == "state.sls":
            return {"meta": {"file_|-a_|-a_|-managed": {"result": True, "changes": {"diff": "x"}, "comment": ""}}}
        raise AssertionError(fun)


@pytest.fixture
def master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    inventory = copy_example("sandbox", tmp_path)
    opts = {"ext_pillar": [{"pigsalt": {"inventory": str(inventory)}}], "conf_file": "/etc/salt/master"}
    monkeypatch.setattr(runner, "__opts__", opts, raising=False)
    seen: dict[str, Any] = {"client": FakeClient(), "sql": []}
    monkeypatch.setattr(salt.client, "get_local_client", lambda conf: seen["client"])

    def cmdb(inventory: Path, script: str, timeout: float = 0) -> str:
        seen["sql"].append(script)
        return ""

    monkeypatch.setattr(source, "run", cmdb)
    return seen


def test_a_members_role_change_reapplies_targets_and_dns_on_meta_queued(master: dict[str, Any]) -> None:
    found = runner.register("node-1", event="role_change", cluster="pg-test", instance="pg-test-1")
    assert found["accepted"] and found["meta"] == {"meta": {"changed": 1, "failed": []}}
    assert found["cmdb"] == "recorded"
    ready, apply = master["client"].calls
    assert ready[:3] == ("I@pigsty:node:meta:True", "file.directory_exists", ["/etc/prometheus/targets"])
    assert apply == (
        "meta",
        "state.sls",
        ["prometheus.targets,dns,nginx.index"],
        {"tgt_type": "list", "kwarg": {"queue": True}, "timeout": 300},
    )
    (sql,) = master["sql"]
    assert "('node', 'node-1', 'registered', 'role_change', now())" in sql
    assert "('instance', 'pg-test-1', 'registered', 'role_change', now())" in sql


def test_a_forged_claim_and_an_unknown_minion_run_nothing(
    master: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    forged = runner.register("node-3", event="role_change", cluster="pg-test", instance="pg-test-1")
    stranger = runner.register("node-9", event="start")
    assert not forged["accepted"] and not stranger["accepted"]
    assert master["client"].calls == [] and master["sql"] == []
    assert "minion node-3 claims instance pg-test-1 but holds pg-test-3 of pg-test: ignored" in caplog.text
    assert "minion node-9 is not in the inventory: not registered" in caplog.text


def test_before_the_first_deploy_nothing_is_applied(master: dict[str, Any]) -> None:
    master["client"] = FakeClient(ready=False)
    found = runner.register("node-2", event="start")
    assert found["accepted"] and found["meta"] == {}
    assert found["reason"].endswith(
        "no meta node has /etc/prometheus/targets yet (pigsty.infra registers every target)"
    )
    assert [c[1] for c in master["client"].calls] == ["file.directory_exists"]


def test_a_cmdb_that_does_not_answer_is_reported_not_raised(
    master: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(inventory: Path, script: str, timeout: float = 0) -> str:
        raise source.CmdbError("psql on pg-meta/meta: connection refused")

    monkeypatch.setattr(source, "run", down)
    found = runner.register("node-2", event="start")
    assert found["cmdb"] == "not recorded: psql on pg-meta/meta: connection refused"
    assert found["meta"] == {"meta": {"changed": 1, "failed": []}}
