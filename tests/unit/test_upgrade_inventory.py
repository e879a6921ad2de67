"""pg_upgrade_from: a successor cluster inherits its source's definitions, validation checks the
pair, and the compiled pillar prepares both sides of a major-version upgrade."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pigsalt.inventory.model import check, open_inventory
from pigsalt.inventory.params import PARAMS
from pigsalt.inventory.upgrade import INHERITED, inherit
from pigsalt.inventory.validate import validate
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.build import build, node_pillar
from pigsalt.pillar.compile import needed_secrets
from tests.conftest import FIXED_SECRETS

INVENTORY = """
all:
  vars:
    node_tune: tiny
  children:
    meta:
      hosts:
        10.10.10.10: {nodename: meta}
    pg-meta:
      hosts:
        10.10.10.10: {pg_seq: 1, pg_role: primary}
      vars:
        pg_cluster: pg-meta
    pg-deb12:
      hosts:
        10.10.10.14: {nodename: node-4, pg_seq: 1, pg_role: primary}
        10.10.10.15: {nodename: node-5, pg_seq: 2, pg_role: replica}
      vars:
        pg_cluster: pg-deb12
        node_os: debian12
        pg_vip_enabled: true
        pg_vip_address: 10.10.10.4/24
        pg_users:
          - {name: app, password: app, pgbouncer: true, roles: [dbrole_admin]}
        pg_databases:
          - {name: app, owner: app}
        pg_hba_rules:
          - {user: app, db: app, addr: 10.10.20.0/24, auth: pwd, title: app servers}
    pg-deb13:
      hosts:
        10.10.10.16: {nodename: node-6, pg_seq: 1, pg_role: primary}
        10.10.10.17: {nodename: node-7, pg_seq: 2, pg_role: replica}
      vars:
        pg_cluster: pg-deb13
        node_os: debian13
        pg_upgrade_from: pg-deb12
"""


def raw() -> dict[str, Any]:
    return yaml.safe_load(INVENTORY)


def group(data: dict[str, Any], name: str) -> dict[str, Any]:
    return data["all"]["children"][name]


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "pigsty.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    secret_store.dump(FIXED_SECRETS, secret_store.secrets_path(path))
    return path


def errors(data: dict[str, Any], tmp_path: Path) -> list[str]:
    return [str(p) for p in check(write(tmp_path, data)).report.errors]


# --- inheritance ---------------------------------------------------------------------------------


def test_inherited_keys_are_the_sources_definitions_in_both_releases_names():
    assert set(INHERITED) <= set(PARAMS)
    for name in ("pg_users", "pg_databases", "pg_hba_rules", "pgb_hba_rules", "pg_services", "pg_default_services"):
        assert name in INHERITED
    assert {n for n in INHERITED if "vip" in n} == {n for n in PARAMS if "vip" in n}
    assert not {"pg_cluster", "pg_version", "node_os", "pg_parameters", "pg_upgrade_from"} & set(INHERITED)


def test_the_successor_takes_what_it_does_not_set_and_the_input_is_left_alone():
    before = raw()
    group(before, "pg-deb13")["vars"]["pg_users"] = [{"name": "own"}]
    kept = copy.deepcopy(before)
    after = inherit(before)
    assert before == kept
    succ, source = group(after, "pg-deb13")["vars"], group(before, "pg-deb12")["vars"]
    assert succ == {
        "pg_cluster": "pg-deb13",
        "node_os": "debian13",
        "pg_upgrade_from": "pg-deb12",
        "pg_users": [{"name": "own"}],
        "pg_databases": source["pg_databases"],
        "pg_hba_rules": source["pg_hba_rules"],
        "pg_vip_enabled": True,
        "pg_vip_address": "10.10.10.4/24",
    }
    # A copy: changing what the successor got does not change the source.
    succ["pg_databases"].append({"name": "other"})
    assert group(after, "pg-deb12")["vars"]["pg_databases"] == [{"name": "app", "owner": "app"}]
    # Everything else is what it was.
    others = {k: v for k, v in kept["all"]["children"].items() if k != "pg-deb13"}
    assert {k: v for k, v in after["all"]["children"].items() if k != "pg-deb13"} == others
    assert inherit(after) == after


def test_an_inventory_without_successor_is_returned_equal():
    data = raw()
    del group(data, "pg-deb13")["vars"]["pg_upgrade_from"]
    assert inherit(data) == data


def test_an_unknown_source_or_a_malformed_inventory_is_left_for_validation():
    data = raw()
    group(data, "pg-deb13")["vars"]["pg_upgrade_from"] = "pg-nowhere"
    assert inherit(data) == data
    for odd in ({}, {"all": None}, {"all": {"children": None}}, {"all": {"children": {"x": None, "y": []}}}):
        assert inherit(odd) == odd


def test_a_pigsty_v2_inventory_does_not_pass_on_the_nodes_keepalived_vip():
    data = raw()
    group(data, "pg-deb12")["vars"]["vip_address"] = "10.10.10.9"  # v2: the node's keepalived VIP
    assert "vip_address" not in group(inherit(data), "pg-deb13")["vars"]


def test_a_v1_inventory_passes_on_the_vip_in_its_own_names():
    data = raw()
    source = group(data, "pg-deb12")["vars"]
    for key in ("pg_vip_enabled", "pg_vip_address"):
        del source[key]
    source.update({"vip_mode": "l2", "vip_address": "10.10.10.4", "vip_cidrmask": 24})
    succ = group(inherit(data), "pg-deb13")["vars"]
    assert (succ["vip_mode"], succ["vip_address"], succ["vip_cidrmask"]) == ("l2", "10.10.10.4", 24)


def test_the_model_sees_the_inherited_values_and_the_pillar_directory_keeps_what_was_written(tmp_path: Path):
    path = write(tmp_path, raw())
    loaded = check(path)
    assert loaded.report.ok, [str(p) for p in loaded.report.errors]
    assert loaded.inventory is not None
    succ = loaded.inventory.cluster("pg-deb13")
    assert [u["name"] for u in succ.vars["pg_users"]] == ["app"]
    assert succ.vip is not None and succ.vip.address == "10.10.10.4"
    assert loaded.inventory.successor("pg-deb12") == succ
    assert loaded.inventory.successor("pg-deb13") is None
    assert "pg_users" not in group(dict(loaded.raw), "pg-deb13")["vars"]
    out = tmp_path / "pillar"
    build(path, out, secret_store.secrets_path(path))
    written = yaml.safe_load((out / "clusters" / "pg-deb13.yml").read_text())
    assert written["pg-deb13"]["vars"] == group(raw(), "pg-deb13")["vars"]


def test_an_error_in_an_inherited_value_is_reported_once_where_it_is_written(tmp_path: Path):
    data = raw()
    group(data, "pg-deb12")["vars"]["pg_users"].append({"name": "app"})
    assert errors(data, tmp_path) == [
        "all.children.pg-deb12.vars.pg_users[1].name: duplicate of all.children.pg-deb12.vars.pg_users[0] ('app')"
    ]


def test_an_error_only_the_successor_makes_of_an_inherited_value_says_where_the_value_comes_from(tmp_path: Path):
    data = raw()
    succ = group(data, "pg-deb13")
    succ["hosts"] = {"10.10.20.16": {"pg_seq": 1, "pg_role": "primary"}}
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13.vars.pg_vip_address: 10.10.10.4/24 does not contain member 10.10.20.16: the VIP "
        "must be in its members' subnet (inherited from all.children.pg-deb12.vars.pg_vip_address)"
    ]


# --- validation ----------------------------------------------------------------------------------


def test_the_example_is_valid(tmp_path: Path):
    assert errors(raw(), tmp_path) == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("all.vars", "all.vars.pg_upgrade_from: cannot be set in all.vars; set it in cluster vars"),
        (
            "host",
            "all.children.pg-deb13.hosts.10.10.10.16.pg_upgrade_from: cannot be set in host vars; "
            "set it in cluster vars",
        ),
    ],
)
def test_pg_upgrade_from_is_a_cluster_parameter(where: str, expected: str):
    data = raw()
    del group(data, "pg-deb13")["vars"]["pg_upgrade_from"]
    if where == "all.vars":
        data["all"]["vars"]["pg_upgrade_from"] = "pg-deb12"
    else:
        group(data, "pg-deb13")["hosts"]["10.10.10.16"]["pg_upgrade_from"] = "pg-deb12"
    assert expected in [str(p) for p in validate(data).errors]


def test_pg_upgrade_from_is_a_cluster_name():
    data = raw()
    group(data, "pg-deb13")["vars"]["pg_upgrade_from"] = "PG 12"
    assert [str(p) for p in validate(data).errors] == [
        "all.children.pg-deb13.vars.pg_upgrade_from: 'PG 12' is not a valid cluster name"
    ]


def test_the_source_must_be_another_cluster_of_the_inventory(tmp_path: Path):
    data = raw()
    group(data, "pg-deb13")["vars"]["pg_upgrade_from"] = "pg-deb11"
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13.vars.pg_upgrade_from: 'pg-deb11' names no cluster of the inventory "
        "(clusters: pg-deb12, pg-meta) (did you mean 'pg-deb12'?)"
    ]
    group(data, "pg-deb13")["vars"]["pg_upgrade_from"] = "pg-deb13"
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13.vars.pg_upgrade_from: 'pg-deb13' is this cluster itself: "
        "name the cluster it upgrades from"
    ]


@pytest.mark.parametrize("where", ["cluster vars", "host vars"])
def test_the_successor_runs_a_later_major(where: str, tmp_path: Path):
    data = raw()
    succ = group(data, "pg-deb13")
    if where == "cluster vars":
        succ["vars"]["node_os"] = "debian12"
    else:
        del succ["vars"]["node_os"]
        for hvars in succ["hosts"].values():
            hvars["node_os"] = "debian12"
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13.vars.pg_upgrade_from: pg-deb13 runs PostgreSQL 15 and pg-deb12 runs 15: "
        "a successor runs a later major"
    ]


def test_a_source_has_one_successor(tmp_path: Path):
    data = raw()
    children = data["all"]["children"]
    children["pg-deb13b"] = {
        "hosts": {"10.10.10.18": {"pg_seq": 1, "pg_role": "primary"}},
        "vars": {"pg_cluster": "pg-deb13b", "pg_upgrade_from": "pg-deb12"},
    }
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13b.vars.pg_upgrade_from: pg-deb12 already has a successor, pg-deb13: "
        "a cluster is upgraded to one successor at a time"
    ]


def test_upgrades_do_not_chain(tmp_path: Path):
    data = raw()
    group(data, "pg-deb12")["vars"]["pg_upgrade_from"] = "pg-meta"
    group(data, "pg-meta")["vars"]["node_os"] = "debian12"
    group(data, "pg-deb12")["vars"]["node_os"] = "debian13"
    assert (
        "all.children.pg-deb13.vars.pg_upgrade_from: pg-deb12 is itself the successor of pg-meta: "
        "upgrades do not chain; finish that one first"
    ) in errors(data, tmp_path)


def test_the_sources_wal_level_if_set_is_logical(tmp_path: Path):
    data = raw()
    group(data, "pg-deb12")["vars"]["pg_parameters"] = {"wal_level": "replica"}
    assert errors(data, tmp_path) == [
        "all.children.pg-deb12.vars.pg_parameters.wal_level: must be logical, not 'replica': pg-deb13 "
        "upgrades from pg-deb12 by logical replication (pg_upgrade_from)"
    ]
    group(data, "pg-deb12")["vars"]["pg_parameters"] = {"wal_level": "logical"}
    assert errors(data, tmp_path) == []
    del group(data, "pg-deb12")["vars"]["pg_parameters"]
    data["all"]["vars"]["pg_parameters"] = {"wal_level": "minimal"}
    assert (
        "all.vars.pg_parameters.wal_level: must be logical, not 'minimal': pg-deb13 upgrades from pg-deb12 "
        "by logical replication (pg_upgrade_from)"
    ) in errors(data, tmp_path)


def test_a_vip_is_shared_only_by_a_cluster_and_its_successor(tmp_path: Path):
    data = raw()
    group(data, "pg-deb13")["vars"].update(pg_vip_enabled=True, pg_vip_address="10.10.10.4/24")
    assert errors(data, tmp_path) == []
    del group(data, "pg-deb13")["vars"]["pg_upgrade_from"]
    assert errors(data, tmp_path) == [
        "all.children.pg-deb13.vars.pg_vip_address: 10.10.10.4 is already the VIP of pg-deb12"
    ]


# --- the compiled pillar -------------------------------------------------------------------------


@pytest.fixture
def pillars(tmp_path: Path) -> dict[str, dict[str, Any]]:
    path = write(tmp_path, raw())
    # One set of generated passwords per cluster, as `pillar build` makes them.
    store = secret_store.secrets_path(path)
    store.unlink()
    secret_store.create(store, needed_secrets(open_inventory(path)[0]))
    return {name: node_pillar(path, name)[0]["pigsty"] for name in ("meta", "node-4", "node-5", "node-6", "node-7")}


def test_the_source_gets_wal_level_logical_and_the_successor_does_not(pillars):
    dynamic = {name: p["pg"]["patroni"]["dynamic"]["postgresql"]["parameters"] for name, p in pillars.items()}
    assert dynamic["node-4"]["wal_level"] == dynamic["node-5"]["wal_level"] == "logical"
    assert dynamic["node-6"]["wal_level"] == dynamic["meta"]["wal_level"] == "replica"
    # The inventory's own pg_parameters are what they were.
    assert pillars["node-4"]["pg"]["parameters"] == {}


def test_the_source_admits_the_successors_members_as_the_admin_first(pillars):
    rule = [
        "# upgrade to pg-deb13",
        "host all dbuser_dba 10.10.10.16/32 scram-sha-256",
        "host all dbuser_dba 10.10.10.17/32 scram-sha-256",
    ]
    for name in ("node-4", "node-5"):
        hba = pillars[name]["pg"]["hba"]
        assert hba["postgres"]["primary"][:3] == hba["postgres"]["replica"][:3] == rule
        assert not any("upgrade" in line for lines in hba["pgbouncer"].values() for line in lines)
    for name in ("node-6", "meta"):
        assert not any("upgrade" in line for line in pillars[name]["pg"]["hba"]["postgres"]["primary"])


def test_the_successor_inherits_users_databases_and_hba_rules(pillars):
    pg = pillars["node-6"]["pg"]
    assert [r["args"]["name"] for r in pg["roles"]][-1] == "app"
    assert [d["args"]["name"] for d in pg["databases"]] == ["app"]
    assert "host app app 10.10.20.0/24 scram-sha-256" in pg["hba"]["postgres"]["primary"]


def test_the_upgrade_keys_of_each_side(pillars):
    def keys(name: str) -> dict[str, Any]:
        return {k: v for k, v in pillars[name]["pg"].items() if k.startswith("upgrade_")}

    assert keys("node-4") == keys("node-5") == {"upgrade_from": None, "upgrade_to": "pg-deb13"}
    assert (
        keys("node-6")
        == keys("node-7")
        == {
            "upgrade_from": "pg-deb12",
            "upgrade_to": None,
            "upgrade_source_members": [
                {"name": "pg-deb12-1", "ip": "10.10.10.14"},
                {"name": "pg-deb12-2", "ip": "10.10.10.15"},
            ],
            # The source's own admin user: the successor logs in there with it.
            "upgrade_source_admin": {
                "name": "dbuser_dba",
                "password": pillars["node-4"]["pg"]["system_users"]["admin"]["password"],
                "port": 5432,
            },
        }
    )
    assert (
        pillars["node-6"]["pg"]["system_users"]["admin"]["password"]
        != (pillars["node-4"]["pg"]["system_users"]["admin"]["password"])
    )
    # A cluster outside the upgrade has none: its pillar is what it was.
    assert keys("meta") == {}


def test_the_successors_vip_keeper_awaits_the_grant(pillars):
    assert pillars["node-4"]["pg"]["vip"]["keeper_args"] == [
        "--address",
        "10.10.10.4/24",
        "--interface-of",
        "10.10.10.14",
    ]
    assert pillars["node-6"]["pg"]["vip"] == {
        "mode": "l2",
        "address": "10.10.10.4",
        "cidrmask": 24,
        "interface": None,
        "keeper_args": ["--address", "10.10.10.4/24", "--interface-of", "10.10.10.16", "--await-grant"],
    }


def test_both_cluster_names_resolve_to_the_shared_vip(pillars):
    records = {r["name"]: r["ip"] for r in pillars["meta"]["infra"]["dns"]["records"]}
    assert records["pg-deb12"] == records["pg-deb13"] == "10.10.10.4"
