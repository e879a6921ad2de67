"""The CMDB's rows: every example inventory goes to rows, through JSON (as the database holds
them), and back to the same inventory, which validates and compiles to the same pillar."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import yaml

from pigsalt.cmdb import rows
from pigsalt.inventory.load import load
from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.build import node_pillar
from tests.conftest import EXAMPLES, FIXED_SECRETS, copy_example

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yml"))


def test_there_are_examples():
    assert len(NAMES) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_an_example_round_trips_to_the_same_inventory_and_pillar(name: str, tmp_path: Path):
    original = copy_example(name, tmp_path)
    raw, _ = load(original)
    stored = json.loads(json.dumps(rows.from_raw(raw).as_json()))  # what the database holds
    back = rows.to_raw(rows.Rows.from_json(stored))
    assert back == raw
    assert list(back["all"]["children"]) == list(raw["all"]["children"])  # the file's order
    dumped = tmp_path / "dumped" / f"{name}.yml"
    dumped.parent.mkdir()
    dumped.write_text(yaml.safe_dump(back, sort_keys=False))
    secret_store.dump(FIXED_SECRETS, secret_store.secrets_path(dumped))
    inv, _ = open_inventory(dumped)
    for node in inv.nodes:
        assert node_pillar(dumped, node.name)[0] == node_pillar(original, node.name)[0], node.name


def test_forms_extra_keys_and_dates_survive():
    raw = {
        "all": {
            "children": {
                "pg-test": {
                    "hosts": {"10.0.0.1": {"pg_seq": 1, "pg_role": "primary"}, "10.0.0.2": None},
                    "vars": None,
                    "children": {"nested": {}},
                },
                "empty": {},
                "redis": {"hosts": {"10.0.0.3": {"redis_instances": {6379: {}, 6380: {"replica_of": "x 6379"}}}}},
            },
            "vars": {"expire": datetime.date(2026, 12, 31), "at": datetime.datetime(2026, 1, 2, 3, 4, 5)},
            "hosts": {"10.0.0.9": None},
        }
    }
    stored = json.loads(json.dumps(rows.from_raw(raw).as_json()))
    assert stored["variables"][0]["value"] == {"$yaml": "date", "value": "2026-12-31"}
    assert rows.to_raw(rows.Rows.from_json(stored)) == raw


def test_a_malformed_inventory_names_the_place():
    with pytest.raises(ValueError, match=r"^all.children.pg-test.hosts: a mapping is expected, not list$"):
        rows.from_raw({"all": {"children": {"pg-test": {"hosts": ["10.0.0.1"]}}}})
