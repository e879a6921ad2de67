"""Reading ``salt-run --out=json state.orch`` documents, and ``pigsalt deploy`` over a fake master."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from pigsalt import orch
from pigsalt.cli import main


def state(result: bool | None, changes: dict[str, Any] | None = None, comment: str = "") -> dict[str, Any]:
    return {"result": result, "changes": changes or {}, "comment": comment}


def salt_state_step(result: bool, minions: dict[str, dict[str, Any]], comment: str = "") -> dict[str, Any]:
    return {"result": result, "comment": comment, "changes": {"ret": minions}}


def document(steps: dict[str, Any]) -> str:
    return json.dumps({"data": {"meta_master": steps}})


GOOD = document(
    {
        "salt_|-pigsty-cluster-users-state_|-pigsty-cluster-users-state_|-state": salt_state_step(
            True,
            {
                "node-1": {
                    "pigsalt_pg_|-pgsql-role-test-present_|-test_|-role_present": state(
                        True, {"exists": {"old": False, "new": True}}
                    ),
                    "pigsalt_hba_|-pgsql-hba-managed_|-/pg/conf/pg_hba.conf_|-managed": state(True),
                }
            },
        )
    }
)

FAILED = document(
    {
        "salt_|-pigsty-cluster-services-state_|-pigsty-cluster-services-state_|-state": salt_state_step(
            False,
            {
                "node-2": {
                    "pigsalt_wait_|-haproxy-admin-wait-tcp_|-10.10.10.12_|-tcp": state(
                        False, comment="tcp 10.10.10.12:9101: not ready"
                    )
                }
            },
            comment="Run failed on minions: node-2",
        )
    }
)


def test_changed_states_are_named_with_the_step_and_the_minion():
    run = orch.parse(GOOD, "", 0, 1.5)
    assert (run.ok, run.changed, run.failed) == (
        True,
        ["pigsty-cluster-users-state node-1 pgsql-role-test-present"],
        [],
    )


def test_a_failed_step_names_the_minion_and_the_cause():
    run = orch.parse(FAILED, "", 1, 2.0)
    assert run.ok is False
    assert run.failed == [
        "pigsty-cluster-services-state: Run failed on minions: node-2",
        "pigsty-cluster-services-state node-2 haproxy-admin-wait-tcp: tcp 10.10.10.12:9101: not ready",
    ]


def test_no_json_is_a_failure_with_what_salt_run_said():
    run = orch.parse("Traceback...", "boom", 1, 0.1)
    assert run.ok is False and run.failed == ["no JSON from salt-run: Traceback... boom"]


def test_orch_argv():
    assert orch.orch_argv("pigsty.cluster", {"pg_cluster": "pg-test"}, test=True) == [
        "salt-run",
        "--out=json",
        "state.orch",
        "pigsty.cluster",
        'pillar={"pg_cluster": "pg-test"}',
        "test=True",
    ]


class FakeMaster:
    """``salt-run`` as the master would answer it, recording every call."""

    def __init__(self, orchestration: str = GOOD, clusters: dict[str, Any] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.orchestration = orchestration
        self.clusters = clusters if clusters is not None else {"pg-meta": {}, "pg-test": {}}

    def __call__(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        if "pigsalt.clusters" in argv:
            return 0, json.dumps(self.clusters), ""
        return (0 if self.orchestration == GOOD else 1), self.orchestration, ""


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> FakeMaster:
    fake = FakeMaster()
    monkeypatch.setattr(orch, "local_runner", fake)
    return fake


def test_deploy_runs_infra_nodes_then_every_cluster(master: FakeMaster):
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    assert [c[3:] for c in master.calls if "state.orch" in c] == [
        ["pigsty.infra"],
        ["pigsty.node"],
        ["pigsty.cluster", 'pillar={"pg_cluster": "pg-meta"}'],
        ["pigsty.cluster", 'pillar={"pg_cluster": "pg-test"}'],
    ]
    assert "deployed in" in result.stdout and "4 states changed" in result.stdout


def test_deploy_one_cluster_stops_at_the_failure_with_the_node_and_cause(master: FakeMaster):
    master.orchestration = FAILED
    result = CliRunner().invoke(main, ["deploy", "--cluster", "pg-test"])
    assert result.exit_code == 2
    assert "node-2 haproxy-admin-wait-tcp: tcp 10.10.10.12:9101: not ready" in result.stderr
    assert result.stderr.strip().endswith("Error: pigsty.cluster pg-test failed (2 failed states)")
    assert "Traceback" not in result.output


def test_dry_run_exits_1_when_something_would_change(master: FakeMaster):
    result = CliRunner().invoke(main, ["deploy", "--cluster", "pg-test", "--dry-run"])
    assert result.exit_code == 1
    assert master.calls[-1][-1] == "test=True"
    assert "would change: pigsty-cluster-users-state node-1 pgsql-role-test-present" in result.stderr


def test_a_minion_that_rendered_nothing_is_named():
    doc = document(
        {
            "salt_|-pigsty-cluster-replication-state_|-x_|-state": salt_state_step(
                False, {"meta": {}}, "Run failed on minions: meta"
            )
        }
    )
    assert orch.parse(doc, "", 1, 1.0).failed == [
        "pigsty-cluster-replication-state: Run failed on minions: meta",
        "pigsty-cluster-replication-state meta: no state rendered",
    ]
