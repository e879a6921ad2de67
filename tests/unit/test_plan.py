"""``pigsalt.plan``: each node's formulas, and the orchestration files that apply them agree."""

from __future__ import annotations

import re
from pathlib import Path

from pigsalt.inventory.model import open_inventory
from pigsalt.plan import CLUSTER, INFRA, NODE, node_formulas
from tests.conftest import ROOT

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
    assert steps_of("cluster.sls") == list(CLUSTER)


def test_every_node_gets_its_roles_formulas(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    plan = node_formulas(inv)
    meta = ["repo", "nginx", "dns", "chrony", "etcd", "checks.infra", "node", "checks.node", *CLUSTER]
    assert plan == {
        "meta": meta,
        "node-1": [*NODE, *CLUSTER],
        "node-2": [*NODE, *CLUSTER],
        "node-3": [*NODE, *CLUSTER],
    }


def test_one_cluster_is_its_members_and_the_cluster_formulas_only(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    assert node_formulas(inv, "pg-test") == {name: list(CLUSTER) for name in ("node-1", "node-2", "node-3")}
    assert node_formulas(inv, "pg-meta") == {"meta": list(CLUSTER)}
