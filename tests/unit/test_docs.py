from __future__ import annotations

from pigsalt.inventory.docgen import render
from pigsalt.inventory.params import PARAMS
from tests.conftest import ROOT


def test_inventory_reference_is_up_to_date():
    assert (ROOT / "docs" / "inventory.md").read_text() == render(), "run `make docs`"


def test_every_parameter_is_documented_with_a_meaning():
    text = (ROOT / "docs" / "inventory.md").read_text()
    for name, param in PARAMS.items():
        assert f"| `{name}` |" in text
        assert len(param.doc) > 10, name
