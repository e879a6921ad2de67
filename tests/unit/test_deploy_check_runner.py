"""The ``pigsalt.deploy_check`` runner (what ``pigsalt deploy`` asks before it orchestrates) on
a fake master: which jobs it publishes, when it stops early, what it returns. Salt's LocalClient
is faked (the real path runs in tests/e2e/test_cluster.py's deploy tests)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import salt.client

from pigsalt import plan
from tests.conftest import ROOT, copy_example

runner = importlib.import_module("pigsalt.saltext.runners.pigsalt_runner")

UNCHANGED = {"file_|-a_|-/a_|-managed": {"result": True, "changes": {}, "comment": "", "__sls__": "repo.config"}}
WOULD = {"file_|-a_|-/a_|-managed": {"result": None, "changes": {}, "comment": "", "__sls__": "repo.config"}}


class FakeClient:
    """LocalClient: ``cmd`` for the mark, ``run_job`` then ``get_cli_event_returns`` for checks."""

    def __init__(self, marked: set[str], would_change: bool = False) -> None:
        self.marked = marked
        self.would_change = would_change
        self.jobs: dict[str, tuple[list[str], list[Any], dict[str, Any]]] = {}
        self.collected: list[str] = []
        self.waiting = False
        self.cmds: list[tuple[Any, ...]] = []

    def cmd(self, tgt: list[str], fun: str, arg: list[Any], **kwargs: Any) -> dict[str, Any]:
        self.cmds.append((tgt, fun, arg, kwargs))
        assert fun == "file.file_exists"
        return {m: m in self.marked for m in tgt}

    def run_job(self, tgt: list[str], fun: str, arg: list[Any], **kwargs: Any) -> dict[str, Any]:
        if self.waiting:  # a new check may start once the last one's jobs are all collected
            assert set(self.collected) == set(self.jobs), "every job is published before any is waited for"
            self.waiting = False
        jid = f"j{len(self.jobs)}"
        self.jobs[jid] = (tgt, arg, kwargs)
        return {"jid": jid, "minions": tgt}

    def get_cli_event_returns(self, jid: str, minions: list[str], *args: Any) -> Any:
        self.waiting = True
        self.collected.append(jid)
        for minion in minions:
            yield {minion: {"ret": WOULD if self.would_change else UNCHANGED, "retcode": 0}}


@pytest.fixture
def master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    inventory = copy_example("sandbox", tmp_path)
    opts = {"ext_pillar": [{"pigsalt": {"inventory": str(inventory)}}], "conf_file": "/etc/salt/master"}
    monkeypatch.setattr(runner, "__opts__", opts, raising=False)
    seen: dict[str, Any] = {"client": FakeClient(marked={"meta", "node-1", "node-2", "node-3"})}
    monkeypatch.setattr(salt.client, "get_local_client", lambda conf: seen["client"])
    return seen


def test_a_deployed_whole_is_checked_in_one_job_per_group_side_by_side(master: dict[str, Any]) -> None:
    found = runner.deploy_check()
    client = master["client"]
    assert (found["new"], found["checked"]) == ([], "all")
    assert set(found["returns"]) == {"meta", "node-1", "node-2", "node-3"}
    assert found["formulas"]["meta"][0] == "repo" and found["published"]
    published = sorted((tuple(tgt), arg[0], kw["kwarg"]["test"]) for tgt, arg, kw in client.jobs.values())
    assert published == [
        (("meta",), ",".join(found["formulas"]["meta"]), True),
        (("node-1", "node-2", "node-3"), ",".join(found["formulas"]["node-1"]), True),
    ]
    assert client.cmds[0][1:3] == ("file.file_exists", [plan.DEPLOYED_MARK])


def test_a_never_deployed_node_ends_the_check_before_any_state(master: dict[str, Any]) -> None:
    master["client"].marked = {"meta", "node-1"}
    found = runner.deploy_check()
    assert (found["new"], found["checked"], found["returns"]) == (["node-2", "node-3"], "none", {})
    assert master["client"].jobs == {}


def test_thorough_checks_everything_without_asking_for_the_mark(master: dict[str, Any]) -> None:
    master["client"].marked = set()
    found = runner.deploy_check(thorough=True)
    assert found["checked"] == "all" and len(found["returns"]) == 4
    assert master["client"].cmds == []


def test_a_cluster_whose_first_formula_would_change_is_not_checked_further(master: dict[str, Any]) -> None:
    master["client"].would_change = True
    found = runner.deploy_check(cluster="pg-test")
    assert found["checked"] == "first"
    # The members' first formula, and meta's (its registration).
    assert sorted(arg[0] for _, arg, _ in master["client"].jobs.values()) == [plan.CLUSTER[0], plan.REGISTER[0]]
    master["client"] = FakeClient(marked=set())
    found = runner.deploy_check(cluster="pg-test")
    assert found["checked"] == "all" and len(master["client"].jobs) == 4  # the first formulas, then all


def test_an_unknown_cluster_is_one_line(master: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match=r"^cluster pg-nope is not in the inventory \(pg-meta, pg-test"):
        runner.deploy_check(cluster="pg-nope")


def test_the_mark_is_what_the_first_formula_of_every_node_writes() -> None:
    assert plan.INFRA[0] == plan.NODE[0] == "repo"
    assert f"- name: {plan.DEPLOYED_MARK}\n" in (ROOT / "salt" / "repo" / "config.sls").read_text()
