"""Reading ``salt-run --out=json state.orch`` documents, and ``pigsalt deploy`` over a fake master."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from pigsalt import orch, plan
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


def test_notes_are_the_show_notification_comments_by_minion_once_each():
    skipped = "Grafana skipped: the offline repository holds no `grafana` package"
    state_id = "_|-".join(["test", *["grafana-install-test-show-notification"] * 2, "show_notification"])
    note = {state_id: state(True, comment=skipped)}
    run = orch.parse(
        document(
            {
                "salt_|-pigsty-infra-grafana-state_|-pigsty-infra-grafana-state_|-state": salt_state_step(
                    True, {"meta-1": dict(note), "meta-2": dict(note)}
                ),
                "salt_|-pigsty-infra-checks-infra-state_|-x_|-state": salt_state_step(True, {"meta-1": dict(note)}),
            }
        ),
        "",
        0,
        1.0,
    )
    assert (run.ok, run.changed) == (True, [])
    assert orch.notes(run) == [f"meta-1: {skipped}", f"meta-2: {skipped}"]
    assert orch.notes(orch.parse(GOOD, "", 0, 1.5)) == []
    assert orch.notes(orch.parse("not json", "", 1, 0.1)) == []


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


PLAN = {"meta": ["repo", "nginx"], "node-1": ["repo", "pgsql"], "node-2": ["repo", "pgsql"]}


def drift_output(minions: Sequence[str], mods: Sequence[str], drift: set[tuple[str, str]]) -> str:
    """The check's answer when only the ``drift`` (minion, formula) pairs would change: one
    state per formula, from a file of that formula (``<formula>.config``)."""
    return json.dumps(
        {
            m: {
                f"file_|-{mod}-x_|-/x_|-managed": {
                    **state(None if (m, mod) in drift else True),
                    "__sls__": f"{mod}.config",
                }
                for mod in mods
            }
            for m in minions
        }
    )


def check_output(minions: Sequence[str], would_change: bool) -> str:
    """``salt --static state.sls … test=True`` for ``minions``: one state each, unchanged or not."""
    result = None if would_change else True
    return json.dumps({m: {"file_|-repo-sources-file-managed_|-/etc/apt/x_|-managed": state(result)} for m in minions})


class FakeMaster:
    """``salt-run`` and ``salt`` as the master would answer them, recording every call."""

    def __init__(self, orchestration: str = GOOD, clusters: dict[str, Any] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.orchestration = orchestration
        self.clusters = (
            clusters
            if clusters is not None
            else {
                "pg-meta": {"primary": "meta", "replicas": []},
                "pg-test": {"primary": "node-1", "replicas": ["node-2"]},
            }
        )
        self.would_change = True
        # (minion, formula) pairs the check says would change, until an orchestration runs.
        self.drift: set[tuple[str, str]] | None = None
        self.silent: set[str] = set()
        self.published: list[str] = []
        self.new: list[str] = []
        # What the pigsalt.deploy_check runner was asked to check, one list of formulas per job.
        self.checked: list[str] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        if "pigsalt.clusters" in argv:
            return 0, json.dumps(self.clusters), ""
        if "pigsalt.deploy_check" in argv:
            found = self.deploy_check(thorough="thorough=True" in argv, cluster="cluster=" in " ".join(argv))
            return 0, json.dumps(found), ""
        if argv[0] == "salt":
            minions = [m for m in argv[argv.index("-L") + 1].split(",") if m not in self.silent]
            return 0, self.state_check(minions, argv[argv.index("state.sls") + 1].split(",")), ""
        if self.drift is not None:
            self.drift = set()  # the orchestration put it back
        return (0 if self.orchestration == GOOD else 1), self.orchestration, ""

    def state_check(self, minions: list[str], mods: list[str]) -> str:
        self.checked.append(",".join(mods))
        if self.drift is not None:
            return drift_output(minions, mods, self.drift)
        return check_output(minions, self.would_change)

    def deploy_check(self, thorough: bool, cluster: bool) -> dict[str, Any]:
        """The runner, as pigsalt_runner.deploy_check answers (tested in test_deploy_check_runner)."""
        found: dict[str, Any] = {"published": self.published, "formulas": PLAN, "new": [], "checked": "all"}
        found["returns"], found["seconds"] = {}, 1.5
        if not thorough and not cluster and self.new:
            return {**found, "new": self.new, "checked": "none"}

        def returns(plan: dict[str, list[str]]) -> dict[str, Any]:
            got: dict[str, Any] = {}
            for minion, mods in plan.items():
                if minion not in self.silent:
                    got.update(json.loads(self.state_check([minion], mods)))
            return got

        if not thorough and cluster:
            first = returns({m: mods[:1] for m, mods in PLAN.items()})
            if orch.parse_returns(first, sorted(PLAN), 0).changed:
                return {**found, "checked": "first", "returns": first}
        return {**found, "returns": returns(PLAN)}

    def orchestrations(self) -> list[list[str]]:
        return [c[3:] for c in self.calls if "state.orch" in c]


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> FakeMaster:
    fake = FakeMaster()
    monkeypatch.setattr(orch, "local_runner", fake)
    return fake


def test_the_check_runs_each_group_of_nodes_with_their_formulas_under_test():
    fake = FakeMaster()
    fake.would_change = False
    run = orch.check(fake, PLAN)
    assert (run.ok, run.changed, run.failed) == (True, [], [])
    assert sorted(c for c in fake.calls) == [
        orch.check_argv(["meta"], ["repo", "nginx"]),
        orch.check_argv(["node-1", "node-2"], ["repo", "pgsql"]),
    ]
    assert orch.check_argv(["meta"], ["repo", "nginx"])[-3:] == ["state.sls", "repo,nginx", "test=True"]


def test_the_check_names_what_would_change_and_a_silent_minion():
    fake = FakeMaster()
    fake.silent = {"node-2"}
    run = orch.check(fake, PLAN)
    assert run.ok is False
    assert run.changed == ["meta repo-sources-file-managed", "node-1 repo-sources-file-managed"]
    assert run.failed == ["node-2: did not return"]


def test_a_render_error_is_a_failure():
    doc = json.dumps({"node-1": ["Rendering SLS 'base:pgsql' failed: Jinja variable 'x' is undefined"]})
    assert orch.parse_check(doc, "", ["node-1"], 1.0).failed == [
        "node-1: Rendering SLS 'base:pgsql' failed: Jinja variable 'x' is undefined"
    ]


def test_deploy_refuses_published_default_passwords_unless_told(master: FakeMaster):
    master.published = ["all.children.pg-test.vars.pg_users[0].password", "all.vars.pg_admin_password"]
    refused = CliRunner().invoke(main, ["deploy"])
    assert refused.exit_code == 2
    assert refused.output.splitlines()[-1] == (
        "Error: all.children.pg-test.vars.pg_users[0].password and 1 more: a published default password; "
        "set your own in the inventory, or pass --allow-published-passwords"
    )
    assert master.orchestrations() == []
    allowed = CliRunner().invoke(main, ["deploy", "--allow-published-passwords"])
    assert allowed.exit_code == 0, allowed.output
    assert "warning: all.children.pg-test.vars.pg_users[0].password and 1 more: published default password" in (
        allowed.stderr
    )


def test_deploy_checks_then_runs_infra_nodes_then_every_cluster(master: FakeMaster):
    master.new = ["node-1", "node-2"]
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    orchestrations = master.orchestrations()
    assert orchestrations[:2] == [["pigsty.infra"], ["pigsty.node"]]
    # The clusters run side by side: both, in either order, leaving registration to pigsty.infra.
    assert sorted(map(tuple, orchestrations[2:])) == [
        ("pigsty.cluster", 'pillar={"pg_cluster": "pg-meta", "pg_register": false}'),
        ("pigsty.cluster", 'pillar={"pg_cluster": "pg-test", "pg_register": false}'),
    ]
    assert master.calls[0] == ["salt-run", "--out=json", "pigsalt.deploy_check"]
    # New nodes: nothing is checked, the orchestrations run.
    assert master.checked == []
    assert "check: 2 of 3 nodes never deployed (node-1, node-2)" in result.stderr
    assert "states would change" not in result.stderr
    assert "deployed in" in result.stdout and "4 states changed" in result.stdout


def test_deploy_with_nothing_to_change_runs_no_orchestration(master: FakeMaster):
    master.would_change = False
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    assert master.orchestrations() == []
    # Every node deployed before: all their formulas, in the one runner call.
    assert master.calls == [["salt-run", "--out=json", "pigsalt.deploy_check"]]
    assert sorted(master.checked) == ["repo,nginx", "repo,pgsql", "repo,pgsql"]
    assert "0 states changed (the check found nothing to do)" in result.stdout


@pytest.mark.parametrize(
    ("drift", "runs", "rechecked"),
    [
        # A drifted file of one cluster's member: that cluster's orchestration alone.
        ({("node-2", "pgsql")}, [("pigsty.cluster", 'pillar={"pg_cluster": "pg-test", "pg_register": false}')], False),
        # Meta's Nginx: pigsty.infra, then what follows it is checked again and found converged.
        ({("meta", "nginx")}, [("pigsty.infra",)], True),
    ],
)
def test_deploy_runs_only_the_orchestrations_whose_formulas_would_change(
    master: FakeMaster, drift: set[tuple[str, str]], runs: list[tuple[str, ...]], rechecked: bool
):
    master.drift = drift
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    assert [tuple(o) for o in master.orchestrations()] == runs
    assert "skipped, the check found nothing to change" in result.stderr
    assert ("check: what follows pigsty.infra, with test=True" in result.stderr) is rechecked
    # All formulas (one per node here), then what follows pigsty.infra again (its 2 groups).
    assert len(master.checked) == (5 if rechecked else 3), master.checked


def test_a_failed_check_runs_every_orchestration(master: FakeMaster):
    """A state that fails under test=True (meta's repository not served yet) says nothing about
    which steps are needed: none is skipped."""
    master.drift = {("node-2", "pgsql")}
    master.silent = {"meta"}
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    assert "1 states would change, 1 failed" in result.stderr
    assert [o[0] for o in master.orchestrations()] == [
        "pigsty.infra",
        "pigsty.node",
        "pigsty.cluster",
        "pigsty.cluster",
    ]
    assert "skipped" not in result.stderr


def test_the_changes_belong_to_the_earliest_step_that_applies_their_file():
    stages = plan.deploy_stages(["pg-meta", "pg-test"])
    whole = {"meta": ["repo", "nginx", "node", "pgsql"], "node-1": ["repo", "node", "pgsql"]}
    members = {"pg-meta": ["meta"], "pg-test": ["node-1"]}
    assert plan.changed_steps([("meta", "repo.install")], stages, whole, members) == {"infra"}
    assert plan.changed_steps([("node-1", "repo.install")], stages, whole, members) == {"node"}
    assert plan.changed_steps([("node-1", "pgsql.config"), ("meta", "pgsql")], stages, whole, members) == {
        "pg-test",
        "pg-meta",
    }
    # A file no step's formulas hold: every step runs.
    assert plan.changed_steps([("node-1", "other.sls")], stages, whole, members) == {
        "infra",
        "node",
        "pg-meta",
        "pg-test",
    }
    assert plan.later_formulas(stages, 1, whole, members) == {"meta": ["pgsql"], "node-1": ["pgsql"]}


def test_deploy_one_cluster_stops_at_the_failure_with_the_node_and_cause(master: FakeMaster):
    master.orchestration = FAILED
    result = CliRunner().invoke(main, ["deploy", "--cluster", "pg-test"])
    assert result.exit_code == 2
    assert ["salt-run", "--out=json", "pigsalt.deploy_check", "cluster=pg-test"] in master.calls
    assert master.orchestrations() == [["pigsty.cluster", 'pillar={"pg_cluster": "pg-test"}']]
    assert "node-2 haproxy-admin-wait-tcp: tcp 10.10.10.12:9101: not ready" in result.stderr
    assert result.stderr.strip().endswith("Error: pigsty.cluster pg-test failed (2 failed states)")
    assert "Traceback" not in result.output


def test_dry_run_only_checks_and_exits_1_when_something_would_change(master: FakeMaster):
    result = CliRunner().invoke(main, ["deploy", "--cluster", "pg-test", "--dry-run"])
    assert result.exit_code == 1
    assert master.orchestrations() == []
    assert all(c[-1] == "test=True" for c in master.calls if c[0] == "salt")
    assert "would change: node-1 repo-sources-file-managed" in result.stderr
    assert "checked in" in result.stdout and "3 states would change" in result.stdout


def test_dry_run_exits_0_when_nothing_would_change(master: FakeMaster):
    master.would_change = False
    result = CliRunner().invoke(main, ["deploy", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "0 states would change" in result.stdout


def test_dry_run_with_a_silent_node_is_an_error(master: FakeMaster):
    master.silent = {"meta"}
    result = CliRunner().invoke(main, ["deploy", "--dry-run"])
    assert result.exit_code == 2
    assert "failed: meta: did not return" in result.stderr
    assert result.stderr.strip().endswith("Error: the check failed (1 failed states)")


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


PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("mine", "code", "output"),
    [
        ({"meta": PEM}, 0, PEM),
        ({}, 2, "Error: no CA certificate in the mine yet: run pigsty.infra (pigsalt deploy) first\n"),
    ],
)
def test_ca_cert_prints_the_published_certificate(monkeypatch: pytest.MonkeyPatch, mine, code, output):
    calls = []

    def runner(argv, timeout):
        calls.append(list(argv))
        return 0, json.dumps(mine), ""

    monkeypatch.setattr(orch, "local_runner", runner)
    result = CliRunner().invoke(main, ["ca", "cert"])
    assert (result.exit_code, result.output) == (code, output)
    assert calls == [["salt-run", "--out=json", "mine.get", "*", "pigsalt_ca_cert"]]
