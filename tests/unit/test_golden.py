"""The compiled pillar of every node of the example inventories, against golden files.

Regenerate after an intended change with ``PIGSALT_UPDATE_GOLDEN=1 make test-unit`` and review
the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar.build import node_pillar
from tests.conftest import EXAMPLE_NAMES, ROOT

GOLDEN = ROOT / "tests" / "golden" / "pillar"
UPDATE = os.environ.get("PIGSALT_UPDATE_GOLDEN") == "1"


def render(data: dict) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True, width=120)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_pillar_of_every_node_matches_golden(name: str, example):
    path: Path = example(name)
    inv, _ = open_inventory(path)
    expected_dir = GOLDEN / name
    seen = set()
    for node in inv.nodes:
        text = render(node_pillar(path, node.name)[0])
        golden = expected_dir / f"{node.name}.yml"
        seen.add(golden.name)
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"no golden file {golden}; run with PIGSALT_UPDATE_GOLDEN=1"
        assert text == golden.read_text(), f"{golden} differs"
    assert sorted(p.name for p in expected_dir.glob("*.yml")) == sorted(seen)
