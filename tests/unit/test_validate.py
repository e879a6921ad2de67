"""Validation behaviour beyond the corpus: warnings, all errors at once, Pigsty v1 import."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from pigsalt.inventory.model import check
from pigsalt.inventory.validate import PUBLISHED_MESSAGE, validate
from tests.conftest import EXAMPLES


def raw(name: str = "sandbox") -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yml").read_text())


def messages(report) -> list[str]:
    return [str(p) for p in report.errors]


def test_examples_are_valid(example):
    for path in EXAMPLES.glob("*.yml"):
        assert check(example(path.stem)).report.ok, path


def test_every_error_is_reported_at_once():
    inv = raw()
    test = inv["all"]["children"]["pg-test"]
    test["hosts"]["10.10.10.12"]["pg_seq"] = 1
    test["hosts"]["10.10.10.13"]["pg_role"] = "primary"
    test["vars"]["pg_rto"] = 5
    test["vars"]["vip_address"] = "10.10.11.3"
    assert messages(validate(inv)) == [
        "all.children.pg-test.hosts: needs exactly one pg_role: primary (found 2: 10.10.10.11, 10.10.10.13)",
        "all.children.pg-test.hosts.10.10.10.12.pg_seq: duplicate of "
        "all.children.pg-test.hosts.10.10.10.11.pg_seq (pg_seq 1)",
        "all.children.pg-test.vars.pg_rto: 5 is out of range (20..3600 s)",
        "all.children.pg-test.vars.vip_address: 10.10.11.3/24 does not contain member 10.10.10.11: "
        "the VIP must be in its members' subnet",
        "all.children.pg-test.vars.vip_address: 10.10.11.3/24 does not contain member 10.10.10.12: "
        "the VIP must be in its members' subnet",
        "all.children.pg-test.vars.vip_address: 10.10.11.3/24 does not contain member 10.10.10.13: "
        "the VIP must be in its members' subnet",
    ]


def test_pigsty_v1_inventory_imports_with_one_warning_per_group_naming_the_ignored_parameters():
    report = validate(raw("pigsty-v1"))
    assert report.ok, messages(report)
    warned = {p.path: p.message for p in report.warnings}
    assert "proxy_env" in warned["all.vars"] and "nginx_upstream" in warned["all.vars"]
    assert "pg_default_roles" in warned["all.vars"]
    assert "meta_node" in warned["all.children.meta"] and "ansible_host" in warned["all.children.meta"]
    # Attributes of users and databases pigsalt does not implement keep their own path.
    assert "all.children.pg-test.vars.pg_databases[0].register_datasource" in warned
    assert "all.children.meta.vars.pg_databases[0].baseline" in warned
    # One line per group, not one per parameter.
    assert sum(1 for path in warned if path == "all.vars") == 1
    published = {path for path, message in warned.items() if message == PUBLISHED_MESSAGE}
    assert not any(path.startswith("all.vars.") for path in set(warned) - published)
    # Pigsty's published passwords get a warning each (pigsalt deploy refuses them).
    assert {"all.vars.pg_admin_password", "all.vars.pg_replication_password"} <= published
    assert all(p.warning for p in report.warnings)


def test_warnings_alone_do_not_fail():
    inv = raw()
    inv["all"]["vars"]["pg_exists_action"] = "clean"
    report = validate(inv)
    assert report.ok
    assert [str(p) for p in report.warnings if p.message != PUBLISHED_MESSAGE] == [
        "all.vars: 1 parameter pigsalt does not implement, ignored: pg_exists_action"
    ]


def test_published_default_passwords_are_a_warning_naming_where_never_the_value():
    inv = raw()
    inv["all"]["vars"]["patroni_password"] = "Patroni.API"
    report = validate(inv)
    assert report.ok
    published = [str(p) for p in report.warnings if p.message == PUBLISHED_MESSAGE]
    assert "all.vars.patroni_password: " + PUBLISHED_MESSAGE in published
    assert not any("Patroni.API" in line or "DBUser" in line for line in published)


def test_validation_is_pure(monkeypatch):
    """No sockets, no files: validating must not touch either."""
    import socket

    def forbidden(*args, **kwargs):
        raise AssertionError("validation opened a socket or a file")

    inv = raw("services")
    monkeypatch.setattr(socket, "socket", forbidden)
    monkeypatch.setattr("builtins.open", forbidden)
    assert validate(copy.deepcopy(inv)).ok


def test_duplicate_yaml_key_is_an_error_with_its_path(tmp_path: Path):
    text = (
        (EXAMPLES / "sandbox.yml")
        .read_text()
        .replace(
            "10.10.10.13: {nodename: node-3, pg_seq: 3, pg_role: offline}",
            "10.10.10.13: {nodename: node-3, pg_seq: 3, pg_role: offline}\n"
            "        10.10.10.12: {pg_seq: 4, pg_role: replica}",
        )
    )
    path = tmp_path / "inv.yml"
    path.write_text(text)
    errors = [str(p) for p in check(path).report.errors]
    assert "all.children.pg-test.hosts.10.10.10.12: duplicate key (lines 34 and 36)" in errors
