"""Inventories written as each Pigsty release writes them keep that release's meaning.

The example inventories ``pigsty-v1``, ``pigsty-v2`` and ``pigsty-v3`` (tests/golden/inventories)
are ours, written in each release's layout and spelling. Their golden pillars are checked in
test_golden.py; here the assertions are on meaning: the HBA of every member keeps the dbsu,
replication and monitor access, the four default services exist and the primary never serves
5434 while a replica is healthy, and the VIP survives the import.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pigsalt.agent import AgentError
from pigsalt.agent.vip import choose_interface
from pigsalt.inventory.model import check, open_inventory
from pigsalt.inventory.pigsty import V1, V2, release
from pigsalt.inventory.validate import PUBLISHED_MESSAGE
from pigsalt.pillar import derive
from pigsalt.pillar.build import node_pillar
from pigsalt.pillar.floor import Connection, method

RELEASES = {"pigsty-v1": V1, "pigsty-v2": V2, "pigsty-v3": V2}


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_each_release_validates_with_warnings_only_and_is_read_as_that_release(name, example):
    loaded = check(example(name))
    assert loaded.report.ok, [str(p) for p in loaded.report.errors]
    assert loaded.inventory is not None and loaded.inventory.release == RELEASES[name]
    # One warning per group of ignored parameters, never one per parameter.
    paths = [p.path for p in loaded.report.warnings if p.message != PUBLISHED_MESSAGE]
    assert len(paths) == len(set(paths))
    assert not any(p.startswith("all.vars.") for p in paths)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_every_member_keeps_dbsu_replication_and_monitor_access(name, example):
    inv, _ = open_inventory(example(name))
    for cluster in inv.clusters:
        c = cluster.vars
        for inst in cluster.instances:
            files = derive.hba(inv.node(inst.ip), inv, cluster)
            for role, lines in files.items():
                assert method(lines, Connection(c["pg_dbsu"], "postgres", None)) == "peer", (inst.name, role)
                assert method(lines, Connection(c["pg_monitor_username"], "postgres", "127.0.0.1")) not in (
                    None,
                    "reject",
                )
                for other in cluster.instances:
                    if other is inst:
                        continue
                    repl = Connection(c["pg_replication_username"], "replication", other.ip)
                    assert method(lines, repl) == "scram-sha-256", (inst.name, role, other.name)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_default_services_exist_and_the_primary_never_serves_reads_while_a_replica_is_up(name, example):
    inv, _ = open_inventory(example(name))
    test = inv.cluster("pg-test")
    services = {s["port"]: s for s in derive.services(test, inv.release)}
    assert {5433, 5434, 5436, 5438} <= set(services)
    replica = services[5434]
    primary = test.primary.name
    # Either the primary is only a backup server (Pigsty's selector_backup/backup), or it is a
    # normal server whose check (/replica) a primary fails.
    if primary in [m["name"] for m in replica["members"]]:
        assert replica["check"] == "/replica"
    else:
        assert primary in [b["name"] for b in replica["backups"]]


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_the_vip_survives_the_import(name, example):
    path = example(name)
    pillar, _ = node_pillar(path, "10.10.10.11")
    vip = pillar["pigsty"]["pg"]["vip"]
    assert (vip["mode"], vip["address"], vip["cidrmask"]) == ("l2", "10.10.10.3", 24 if name != "pigsty-v1" else 8)


def test_v2_pg_services_are_added_to_the_defaults_and_placeholders_are_substituted(example):
    path = example("pigsty-v2")
    pillar = node_pillar(path, "10.10.10.12")[0]["pigsty"]
    ports = sorted(s["port"] for s in pillar["pg"]["services"])
    assert ports == [5433, 5434, 5435, 5436, 5438]
    standby = next(s for s in pillar["pg"]["services"] if s["port"] == 5435)
    # backup selects the primary: it serves the standby service only when no replica does.
    assert [m["name"] for m in standby["members"]] == ["pg-test-2", "pg-test-3"]
    assert [b["name"] for b in standby["backups"]] == ["pg-test-1"]
    assert standby["dest_port"] == 6432  # dest: default -> pg_default_service_dest: pgbouncer
    node = pillar["node"]
    assert node["timezone"] is None  # empty node_timezone: leave it alone
    assert node["dns_servers"] == ["10.10.10.10"]
    grants = [g for d in pillar["pg"]["default_privileges"] for g in d["args"]["grants"]]
    assert "GRANT USAGE ON SCHEMAS TO dbrole_readonly" in grants
    assert pillar["pg"]["conf"] == "tiny"
    hba = pillar["pg"]["hba"]
    assert "host test test 10.10.10.0/24 scram-sha-256" in hba["postgres"]["primary"]
    assert "host test test 10.10.10.0/24 scram-sha-256" in hba["pgbouncer"]["primary"]


def test_v3_ordered_deny_rule_comes_before_the_defaults(example):
    pillar = node_pillar(example("pigsty-v3"), "10.10.10.11")[0]["pigsty"]
    lines = [line for line in pillar["pg"]["hba"]["postgres"]["primary"] if not line.startswith("#")]
    assert lines[0] == "host all all 10.10.10.99/32 reject"


def test_other_modules_groups_warn_once_and_are_not_deployed(example):
    loaded = check(example("pigsty-v2"))
    warned = {p.path: p.message for p in loaded.report.warnings}
    assert "redis module" in warned["all.children.redis-ms"]
    assert "minio module" in warned["all.children.minio"]
    assert [c.name for c in loaded.inventory.clusters] == ["pg-meta", "pg-test"]


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pigsty.yml"
    path.write_text(text)
    return path


BASE = """
all:
  vars: {VARS}
  children:
    infra: {{hosts: {{10.10.10.10: {{infra_seq: 1}}}}}}
    pg-test:
      hosts:
        10.10.10.11: {{pg_seq: 1, pg_role: primary}}
        10.10.10.12: {{pg_seq: 2, pg_role: replica}}
      vars: {CLUSTER}
"""


def make(tmp_path: Path, gvars: str = "{}", cluster: str = "{pg_cluster: pg-test}") -> Path:
    return _inventory(tmp_path, BASE.format(VARS=gvars, CLUSTER=cluster))


def test_a_key_close_to_a_parameter_is_an_error_and_a_far_one_a_warning(tmp_path):
    report = check(make(tmp_path, "{pg_vip_adress: 10.10.10.3/24, my_app_color: blue}")).report
    assert [str(p) for p in report.errors] == [
        "all.vars.pg_vip_adress: unknown parameter (did you mean 'pg_vip_address'?)"
    ]
    assert "all.vars.my_app_color: is neither a pigsalt nor a Pigsty parameter; ignored" in map(str, report.warnings)


def test_consul_is_a_warning_and_etcd_is_used(tmp_path):
    loaded = check(make(tmp_path, "{dcs_type: consul}"))
    assert loaded.report.ok
    assert any(p.path == "all.vars.dcs_type" and "etcd" in p.message for p in loaded.report.warnings)


def test_pigsty_3s_default_pg_version_17_puts_the_cluster_on_debian_13(tmp_path):
    loaded = check(make(tmp_path, "{pg_version: 17}"))
    assert loaded.report.ok, loaded.report.errors
    assert loaded.inventory is not None
    assert {n.os for n in loaded.inventory.nodes if n.instance} == {"debian13"}


def test_a_pg_version_no_release_ships_names_what_each_release_offers(tmp_path):
    report = check(make(tmp_path, "{pg_version: 16}")).report
    assert [str(p) for p in report.errors] == [
        "all.vars.pg_version: PostgreSQL 16 is not shipped by a Debian release pigsalt deploys: "
        "debian12 (bookworm) ships PostgreSQL 15; debian13 (trixie) ships PostgreSQL 17"
    ]


def test_default_hba_rules_that_lock_out_the_replicator_are_an_error(tmp_path):
    cluster = yaml.safe_dump(
        {
            "pg_cluster": "pg-test",
            "pg_default_hba_rules": [
                {"user": "${dbsu}", "db": "all", "addr": "local", "auth": "ident"},
                {"user": "${monitor}", "db": "all", "addr": "localhost", "auth": "pwd"},
            ],
        },
        default_flow_style=True,
    ).strip()
    report = check(make(tmp_path, "{version: v2.7.0}", cluster)).report
    errors = [str(p) for p in report.errors]
    assert errors and all(e.startswith("all.children.pg-test.vars.pg_default_hba_rules: ") for e in errors)
    assert any("locks out replicator (database replication from 10.10.10.12" in e for e in errors)


def test_a_deny_rule_ordered_first_that_rejects_the_dbsu_is_an_error(tmp_path):
    cluster = "{pg_cluster: pg-test, pg_hba_rules: [{user: all, db: all, addr: local, auth: deny, order: 10}]}"
    report = check(make(tmp_path, "{}", cluster)).report
    assert any("locks out postgres (database postgres from the local socket" in str(p) for p in report.errors)


def test_release_comes_from_version_then_from_the_names_used():
    assert release({"all": {"vars": {"version": "v1.5.1"}, "children": {"infra": {}}}}).major == V1
    assert release({"all": {"children": {"infra": {}}}}).major == V2
    assert release({"all": {"children": {"meta": {}}}}).major == V1


class FakeSys:
    def __init__(self, tmp_path: Path, names: list[str]) -> None:
        self.path = tmp_path / "net"
        for name in names:
            (self.path / name).mkdir(parents=True)


def test_vip_interface_defaults_to_the_one_carrying_the_members_address(tmp_path):
    sysfs = FakeSys(tmp_path, ["lo", "host0"]).path
    output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "2: host0    inet 10.10.10.11/24 brd 10.10.10.255 scope global host0\\       valid_lft forever\n"
    )
    assert choose_interface("10.10.10.11", None, run=lambda args: output, sysfs=sysfs) == "host0"
    assert choose_interface("10.10.10.11", "host0", run=lambda args: output, sysfs=sysfs) == "host0"
    with pytest.raises(AgentError, match=r"interface 'eth0' does not exist on this node \(it has: host0, lo\)"):
        choose_interface("10.10.10.11", "eth0", run=lambda args: output, sysfs=sysfs)
    with pytest.raises(AgentError, match=r"no interface of this node carries 10.10.10.99"):
        choose_interface("10.10.10.99", None, run=lambda args: output, sysfs=sysfs)


def test_the_keeper_is_told_the_interface_or_the_address_to_find_it_by(example):
    v3 = node_pillar(example("pigsty-v3"), "10.10.10.11")[0]["pigsty"]["pg"]["vip"]
    assert v3["keeper_args"] == ["--address", "10.10.10.3/24", "--interface-of", "10.10.10.11"]
    meta = node_pillar(example("pigsty-v3"), "10.10.10.10")[0]["pigsty"]["pg"]["vip"]
    assert meta["keeper_args"] == ["--address", "10.10.10.2/24", "--interface", "host0"]
