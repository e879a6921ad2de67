"""Every SLS in salt/ renders, through Salt's own renderer, for every node of every example."""

from __future__ import annotations

from pathlib import Path

import pytest

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar.build import node_pillar
from tests.conftest import EXAMPLE_NAMES, ROOT, copy_example
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


def _included(sls: str, result: dict) -> set[str]:
    """The SLS a formula's init.sls includes (``chrony`` -> ``chrony.install``, …)."""
    if not (ROOT / "salt" / sls.replace(".", "/") / "init.sls").is_file():
        return set()
    return {v["__sls__"] for v in result.values() if str(v.get("__sls__", "")).startswith(sls + ".")}


@pytest.fixture(scope="module")
def rendered(salt_caller, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, dict]]]:
    """Every SLS rendered for every node of every example: one ``state.show_sls`` per node with
    all SLS at once (Salt renders each file once per call), results filed by SLS.

    A render error is filed under each SLS its message names; states under their ``__sls__``.
    """
    names = project_sls()
    by_sls: dict[str, list[tuple[str, dict]]] = {sls: [] for sls in names}
    for example, node, pillar in example_nodes(tmp_path_factory.mktemp("render")):
        where = f"{example}/{node}"
        result = salt_caller.cmd("state.show_sls", ",".join(names), pillar=pillar)
        if not isinstance(result, dict):  # Salt's list of render errors
            for sls in names:
                errors = [e for e in result if f"'base:{sls}'" in str(e) or f"SLS {sls} " in str(e)]
                if errors:
                    by_sls[sls].append((where, {"__errors__": errors}))
            # Render the others one by one, so one broken file does not hide the rest.
            for sls in names:
                if not any(w == where for w, _ in by_sls[sls]):
                    alone = salt_caller.cmd("state.show_sls", sls, pillar=pillar)
                    if isinstance(alone, dict):  # only its own states, as in the combined render
                        alone = {k: v for k, v in alone.items() if v.get("__sls__") in (sls, *_included(sls, alone))}
                    by_sls[sls].append((where, alone if isinstance(alone, dict) else {"__errors__": alone}))
            continue
        for sls in names:
            mine = {k: v for k, v in result.items() if v.get("__sls__") in (sls, *_included(sls, result))}
            by_sls[sls].append((where, mine))
    return by_sls


@pytest.mark.parametrize("sls", project_sls())
def test_sls_renders_for_every_node(sls: str, rendered: dict[str, list[tuple[str, dict]]]):
    rendered_somewhere = False
    for where, states in rendered[sls]:
        assert "__errors__" not in states, f"{sls} for {where}: {states.get('__errors__')}"
        rendered_somewhere = rendered_somewhere or bool(states)
        for state_id, body in states.items():
            assert isinstance(body, dict), f"{sls} for {where}: {state_id}: {body}"
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
