from __future__ import annotations

from pigsalt.inventory.docgen import disposition, render, render_catalogue
from pigsalt.inventory.params import PARAMS
from tests.conftest import ROOT


def test_inventory_reference_is_up_to_date():
    assert (ROOT / "docs" / "inventory.md").read_text() == render(), "run `make docs`"


def test_every_parameter_is_documented_with_a_meaning():
    text = (ROOT / "docs" / "inventory.md").read_text()
    for name, param in PARAMS.items():
        assert f"| `{name}` |" in text
        assert len(param.doc) > 10, name


def test_pigstys_parameters_by_release_is_up_to_date():
    assert (ROOT / "docs" / "pigsty-params.md").read_text() == render_catalogue(), "run `make docs`"


def test_each_pigsty_parameter_says_what_pigsalt_does():
    assert disposition("pg_cluster") == "implements"
    assert disposition("pg_shared_libraries") == "ignores"
    assert disposition("redis_port") == "another module's (redis)"
    assert "| `pg_dcs_type` | v1.5.0-v1.5.1 | ignores |" in render_catalogue()
