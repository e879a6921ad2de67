"""Every SLS in salt/ renders, through Salt's own renderer, for every node of every example."""

from __future__ import annotations

from pathlib import Path

import pytest

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar.build import node_pillar
from tests.conftest import EXAMPLE_NAMES, copy_example
from tests.functional.conftest import project_sls


def example_nodes(tmp: Path) -> list[tuple[str, str, dict]]:
    cases = []
    for name in EXAMPLE_NAMES:
        path = copy_example(name, tmp)
        inv, _ = open_inventory(path)
        cases += [(name, node.name, node_pillar(path, node.name)[0]) for node in inv.nodes]
    return cases


def test_there_is_something_to_render():
    assert "node.hostname" in project_sls()


@pytest.mark.parametrize("sls", project_sls())
def test_sls_renders_for_every_node(sls: str, salt_caller, tmp_path: Path):
    rendered_somewhere = False
    for example, node, pillar in example_nodes(tmp_path):
        result = salt_caller.cmd("state.show_sls", sls, pillar=pillar)
        # A list is Salt's list of render errors; an empty dict means "nothing for this node".
        assert isinstance(result, dict), f"{sls} for {example}/{node}: {result}"
        rendered_somewhere = rendered_somewhere or bool(result)
        for state_id, body in result.items():
            assert isinstance(body, dict), f"{sls} for {example}/{node}: {state_id}: {body}"
            assert state_id.split("-")[0] in sls.replace(".", "-").split("-"), (
                f"{sls}: state id {state_id!r} does not start with its formula's name"
            )
    assert rendered_somewhere, f"{sls} renders no state for any node of the examples"


def test_hostname_state_uses_the_node_name(salt_caller, sandbox_inventory: Path):
    pillar = node_pillar(sandbox_inventory, "node-2")[0]
    result = salt_caller.cmd("state.show_sls", "node.hostname", pillar=pillar)
    assert {"name": "/etc/hostname"} in result["node-hostname-file-managed"]["file"]
    assert {"contents": "node-2"} in result["node-hostname-file-managed"]["file"]


def test_custom_modules_load(salt_caller):
    assert "pigsalt.identity" in salt_caller.cmd("sys.list_functions", "pigsalt")
