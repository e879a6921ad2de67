"""``pigsalt.plan``: each node's formulas, and the orchestration files that apply them agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import salt.config
import salt.utils.templates
import yaml
from click.testing import CliRunner

from pigsalt import orch
from pigsalt.cli import main
from pigsalt.inventory.model import open_inventory
from pigsalt.plan import CLUSTER, INFRA, NODE, REGISTER, deploy_stages, node_formulas
from tests.conftest import ROOT
from tests.unit.test_orch import FakeMaster

ORCH = ROOT / "salt" / "pigsty"


def steps_of(sls: str) -> list[str]:
    """The formulas an orchestration file applies, in order, each once."""
    text = (ORCH / sls).read_text()
    listed = re.search(r"\{%- set steps = \[(.*?)\] %\}", text)
    if listed:
        return re.findall(r"'([\w.]+)'", listed[1])
    applied = [m for line in re.findall(r"- sls: \[(.*?)\]", text) for m in re.split(r",\s*", line)]
    return list(dict.fromkeys(applied))


def test_the_orchestrations_apply_the_plans_formulas_in_its_order():
    assert steps_of("infra.sls") == list(INFRA)
    assert steps_of("node.sls") == list(NODE)
    assert steps_of("cluster.sls") == [*CLUSTER, *REGISTER]


def test_every_node_gets_its_roles_formulas(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    plan = node_formulas(inv)
    meta = ["repo", "nginx", "dns", "chrony", "pki.ca", "pki.key", "pki.sign", "pki", "etcd", "pgbackrest.server"]
    meta += ["prometheus"]
    meta += ["alertmanager", "grafana", "checks.infra"]
    meta += ["node", "node.firewall", "checks.node", *CLUSTER]
    assert plan == {
        "meta": meta,
        "node-1": [*NODE, *CLUSTER],
        "node-2": [*NODE, *CLUSTER],
        "node-3": [*NODE, *CLUSTER],
    }


def test_one_cluster_is_its_members_and_the_cluster_formulas_only(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    members = {name: list(CLUSTER) for name in ("node-1", "node-2", "node-3")}
    assert node_formulas(inv, "pg-test") == {"meta": list(REGISTER), **members}
    assert node_formulas(inv, "pg-meta") == {"meta": [*CLUSTER, *REGISTER]}


def render_deploy(stages: list) -> dict:
    """``pigsty.deploy`` rendered by Salt's Jinja renderer, ``pigsalt.stages`` answering ``stages``."""
    opts = salt.config.master_config(None)
    runner = {"saltutil.runner": lambda name: stages if name == "pigsalt.stages" else None}
    done = salt.utils.templates.JINJA(
        str(ORCH / "deploy.sls"), to_str=True, salt=runner, opts=opts, saltenv="base", sls="pigsty.deploy"
    )
    assert done["result"], done["data"]
    return yaml.safe_load(done["data"])


Step = tuple[str, "str | None"]


def stages_of(rendered: dict) -> list[list[Step]]:
    """The orchestration's steps, (mods, pg_cluster), stage by stage: each stage is the steps
    that require exactly every step of the stage before."""
    steps: dict[str, tuple[Step, set[str]]] = {}
    for state_id, body in rendered.items():
        args = {k: v for item in body["salt.runner"] for k, v in item.items()}
        assert args["name"] == "state.orchestrate", state_id
        steps[state_id] = (
            (args["mods"], (args.get("pillar") or {}).get("pg_cluster")),
            {r["salt"] for r in args.get("require", [])},
        )
    stages: list[list[Step]] = []
    previous: set[str] = set()
    while steps:
        ready = {sid for sid, (_, required) in steps.items() if required == previous}
        assert ready, f"steps that wait for something else than one whole stage: {steps}"
        stages.append(sorted(steps.pop(sid)[0] for sid in ready))
        previous = ready
    return stages


def test_pigsalt_deploy_and_the_deploy_orchestration_run_the_same_stages(monkeypatch: pytest.MonkeyPatch):
    """``pigsalt deploy`` and ``salt-run state.orch pigsty.deploy`` both follow ``plan.DEPLOY``."""
    member = {"primary": "node-1", "replicas": []}
    master = FakeMaster(clusters={"pg-meta": member, "pg-test": member, "pg-src": member})
    monkeypatch.setattr(orch, "local_runner", master)
    result = CliRunner().invoke(main, ["deploy"])
    assert result.exit_code == 0, result.output
    cli: list[Step] = [
        (c[0], json.loads(c[1].removeprefix("pillar="))["pg_cluster"] if len(c) > 1 else None)
        for c in master.orchestrations()
    ]
    orchestration = stages_of(render_deploy(deploy_stages(master.clusters)))
    assert orchestration == [
        [("pigsty.infra", None)],
        [("pigsty.node", None)],
        [("pigsty.cluster", "pg-meta"), ("pigsty.cluster", "pg-src"), ("pigsty.cluster", "pg-test")],
    ]
    # The CLI runs one stage after the other, the steps of a stage in any order.
    at = 0
    for stage in orchestration:
        assert sorted(cli[at : at + len(stage)]) == stage
        at += len(stage)
    assert at == len(cli)


def test_a_whole_deployment_registers_at_infra_and_one_cluster_registers_itself():
    """Side by side, the clusters' runs leave the meta nodes to pg-meta's (pigsty.infra wrote
    every target); a cluster deployed alone registers its targets at its end."""
    *_, clusters = deploy_stages(["pg-meta", "pg-test"])
    assert [step["pillar"] for step in clusters] == [
        {"pg_cluster": "pg-meta", "pg_register": False},
        {"pg_cluster": "pg-test", "pg_register": False},
    ]
    assert deploy_stages([], "pg-test") == [
        [{"id": "pg-test", "mods": "pigsty.cluster", "pillar": {"pg_cluster": "pg-test"}}]
    ]
    assert "prometheus" in INFRA
    assert "- prometheus.targets" in (ROOT / "salt" / "prometheus" / "init.sls").read_text()


def render_cluster(schemes: object) -> dict:
    """``pigsty.cluster`` for pg-test rendered by Salt's Jinja renderer, the
    ``pigsalt.restapi_schemes`` runner answering ``schemes``."""
    opts = salt.config.master_config(None)
    answers = {"pigsalt.clusters": {"pg-test": {"primary": "node-1", "replicas": ["node-2", "node-3"]}}}

    def runner(name: str, arg: list | None = None) -> object:
        return schemes if name == "pigsalt.restapi_schemes" and arg == ["pg-test"] else answers.get(name)

    pillar = {"pg_cluster": "pg-test"}
    funcs = {"saltutil.runner": runner, "pillar.get": lambda key, default=None: pillar.get(key, default)}
    done = salt.utils.templates.JINJA(
        str(ORCH / "cluster.sls"), to_str=True, salt=funcs, opts=opts, saltenv="base", sls="pigsty.cluster"
    )
    assert done["result"], done["data"]
    return yaml.safe_load(done["data"])


CONVERSION = {
    "pigsty-cluster-haproxy-hold-function",
    "pigsty-cluster-restapi-state",
    "pigsty-cluster-clients-state",
    "pigsty-cluster-haproxy-resume-function",
    "pigsty-cluster-haproxy-resume-onfail-function",
}


def _primary_requires(rendered: dict) -> list[str]:
    args = {k: v for item in rendered["pigsty-cluster-primary-state"]["salt.state"] for k, v in item.items()}
    return [r["salt"] for r in args["require"]]


@pytest.mark.parametrize(
    "schemes",
    [
        {"node-1": "https", "node-2": "https", "node-3": "https"},  # converted
        {"node-1": "down", "node-2": "down", "node-3": "down"},  # new: no Patroni runs yet
    ],
)
def test_a_converted_or_new_cluster_skips_the_tls_conversion_steps(schemes: dict[str, str]):
    rendered = render_cluster(schemes)
    assert not CONVERSION & set(rendered), sorted(rendered)
    assert _primary_requires(rendered) == ["pigsty-cluster-modules-sync"]


@pytest.mark.parametrize(
    "schemes",
    [
        {"node-1": "https", "node-2": "http", "node-3": "https"},  # one member still in clear
        {"node-1": "https", "node-2": "unknown", "node-3": "down"},  # one member cannot be told
        "Exception occurred in runner pigsalt.restapi_schemes: ...",  # the probe failed
    ],
)
def test_a_member_in_clear_or_unknown_gets_the_tls_conversion_steps(schemes: object):
    rendered = render_cluster(schemes)
    assert set(rendered) >= CONVERSION
    assert _primary_requires(rendered) == ["pigsty-cluster-haproxy-resume-function"]
