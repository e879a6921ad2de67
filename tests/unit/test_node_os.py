"""Which Debian release each node runs (node_os), the PostgreSQL it gets, and what the compiler
makes of the release."""

from __future__ import annotations

import yaml

from pigsalt.debian import RELEASES
from pigsalt.inventory.model import Inventory
from pigsalt.inventory.validate import validate
from pigsalt.pillar import platform

INVENTORY = """
all:
  vars: {GLOBAL}
  children:
    meta:
      hosts: {{10.10.10.10: {{nodename: meta}}}}
      vars: {META}
    pg-meta:
      hosts: {{10.10.10.10: {{pg_seq: 1, pg_role: primary}}}}
      vars: {{pg_cluster: pg-meta}}
    pg-test:
      hosts:
        10.10.10.11: {{pg_seq: 1, pg_role: primary}}
        10.10.10.12: {{pg_seq: 2, pg_role: replica}}
      vars: {TEST}
"""


def inventory(gvars: str = "{}", meta: str = "{}", test: str = "{pg_cluster: pg-test}") -> dict:
    return yaml.safe_load(INVENTORY.format(GLOBAL=gvars, META=meta, TEST=test))


def releases(raw: dict) -> dict[str, tuple[str, int | None]]:
    report = validate(raw)
    assert report.ok, [str(p) for p in report.errors]
    inv = Inventory.from_raw(raw)
    return {n.name: (n.os, n.vars["pg_version"] if n.instance else None) for n in inv.nodes}


def test_nothing_said_means_debian_13_and_postgresql_17():
    assert set(releases(inventory()).values()) == {("debian13", 17)}


def test_a_pg_version_alone_picks_the_release_that_ships_it():
    found = releases(inventory(test="{pg_cluster: pg-test, pg_version: 15}"))
    assert found["pg-test-1"] == found["pg-test-2"] == ("debian12", 15)
    assert found["meta"] == ("debian13", 17)


def test_the_meta_groups_vars_set_the_meta_nodes_release_and_pg_meta_follows():
    found = releases(inventory(meta="{node_os: debian12}"))
    assert found["meta"] == ("debian12", 15)
    assert found["pg-test-1"] == ("debian13", 17)


def test_a_host_entry_beats_the_cluster_and_all_vars():
    raw = inventory(gvars="{node_os: debian12}", test="{pg_cluster: pg-test, node_os: debian13}")
    found = releases(raw)
    assert found["meta"] == ("debian12", 15)
    assert found["pg-test-1"] == ("debian13", 17)


def test_one_node_named_twice_with_two_releases_is_an_error():
    raw = inventory()
    raw["all"]["children"]["meta"]["hosts"]["10.10.10.10"]["node_os"] = "debian12"
    raw["all"]["children"]["pg-meta"]["hosts"]["10.10.10.10"]["node_os"] = "debian13"
    errors = [str(p) for p in validate(raw).errors]
    assert errors == [
        "all.children.pg-meta.hosts.10.10.10.10.node_os: debian13 contradicts debian12 at "
        "all.children.meta.hosts.10.10.10.10.node_os: a node runs one release"
    ]


def test_the_compiler_names_each_releases_packages_and_paths():
    bookworm, trixie = RELEASES["debian12"], RELEASES["debian13"]
    assert platform.postgres(trixie, 17) == {
        "packages": ["postgresql-17", "postgresql-client-17"],
        "bin_dir": "/usr/lib/postgresql/17/bin",
    }
    assert platform.postgres(bookworm, 15)["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert platform.node_os(trixie) == {"name": "debian13", "codename": "trixie", "major": 13, "python": "3.13"}


def test_pgbouncer_1_18_gets_no_key_it_would_refuse():
    assert platform.pgbouncer_settings(RELEASES["debian12"]) == {}
    assert platform.pgbouncer_settings(RELEASES["debian13"]) == {"max_prepared_statements": 200}


def test_a_predefined_role_of_a_later_major_is_refused_on_postgresql_15():
    granted = "{pg_cluster: pg-test, pg_version: %d, pg_users: [{name: maint, roles: [pg_maintain]}]}"
    errors = [str(p) for p in validate(inventory(test=granted % 15)).errors]
    assert errors == [
        "all.children.pg-test.vars.pg_users[0].roles[0]: role 'pg_maintain' exists in PostgreSQL 17 and later; "
        "the cluster runs 15"
    ]
    assert validate(inventory(test=granted % 17)).ok
