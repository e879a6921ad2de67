"""Pigsty's compact layouts (pigsalt.inventory.pigsty.normalize): identity in the host vars of a
one-host group, an instance's parameters in a one-host group's vars or a one-host inventory's
all.vars, read at the levels pigsalt validates them at."""

from __future__ import annotations

from pathlib import Path

import yaml

from pigsalt.inventory.model import check

META = "    infra:\n      hosts:\n        10.10.10.10: {infra_seq: 1}\n"


def _report(tmp_path: Path, text: str) -> tuple[list[str], object]:
    path = tmp_path / "pigsty.yml"
    path.write_text(text)
    loaded = check(path)
    return [f"{p.path}: {p.message}" for p in loaded.report.errors], loaded.inventory


def test_identity_in_a_one_host_groups_host_vars_is_the_clusters(tmp_path: Path) -> None:
    text = (
        "all:\n  vars: {admin_ip: 10.10.10.10}\n  children:\n"
        + META
        + "    d12: { hosts: { 10.10.10.12: { pg_cluster: d12, pg_seq: 1, pg_role: primary, nodename: d12-1 }}}\n"
    )
    errors, inv = _report(tmp_path, text)
    assert errors == []
    cluster = inv.cluster("d12")  # type: ignore[attr-defined]
    assert [i.name for i in cluster.instances] == ["d12-1"]
    assert inv.node("10.10.10.12").name == "d12-1"  # type: ignore[attr-defined]


def test_the_same_cluster_on_every_host_is_the_groups(tmp_path: Path) -> None:
    text = (
        "all:\n  children:\n" + META + "    pg-test:\n      hosts:\n"
        "        10.10.10.11: {pg_cluster: pg-test, pg_seq: 1, pg_role: primary}\n"
        "        10.10.10.12: {pg_cluster: pg-test, pg_seq: 2, pg_role: replica}\n"
    )
    errors, inv = _report(tmp_path, text)
    assert errors == [] and len(inv.cluster("pg-test").instances) == 2  # type: ignore[attr-defined]


def test_different_clusters_in_one_group_stay_an_error(tmp_path: Path) -> None:
    text = (
        "all:\n  children:\n" + META + "    pg-citus:\n      hosts:\n"
        "        10.10.10.11: {pg_cluster: pg-citus1, pg_seq: 1, pg_role: primary}\n"
        "        10.10.10.12: {pg_cluster: pg-citus2, pg_seq: 1, pg_role: primary}\n"
    )
    errors, _ = _report(tmp_path, text)
    assert "all.children.pg-citus.hosts.10.10.10.11.pg_cluster: cannot be set in host vars; set it in cluster vars" in (
        errors
    )


def test_a_one_host_inventorys_nodename_in_all_vars_is_the_hosts(tmp_path: Path) -> None:
    doc = {
        "all": {
            "vars": {"nodename": "pigsty", "admin_ip": "10.10.10.10"},
            "children": {
                "infra": {"hosts": {"10.10.10.10": {"infra_seq": 1}}},
                "pg-meta": {
                    "hosts": {"10.10.10.10": {"pg_seq": 1, "pg_role": "primary"}},
                    "vars": {"pg_cluster": "pg-meta"},
                },
            },
        }
    }
    errors, inv = _report(tmp_path, yaml.safe_dump(doc))
    assert errors == [] and inv.node("10.10.10.10").name == "pigsty"  # type: ignore[attr-defined]
    # With two hosts the same line stays an error: it would name both the same.
    doc["all"]["children"]["pg-meta"]["hosts"]["10.10.10.11"] = {"pg_seq": 2, "pg_role": "replica"}
    errors, _ = _report(tmp_path, yaml.safe_dump(doc))
    assert "all.vars.nodename: cannot be set in all.vars; set it in host vars" in errors


def test_names_pigstys_templates_write_for_extensions_and_libraries(tmp_path: Path) -> None:
    base = "all:\n  children:\n" + META + "    pg-meta:\n      hosts: {10.10.10.11: {pg_seq: 1, pg_role: primary}}\n"
    good = base + (
        "      vars:\n        pg_cluster: pg-meta\n"
        "        pg_libs: 'vchord.so, pg_stat_statements, $libdir/auto_explain'\n"
        "        pg_databases: [{name: meta, extensions: [uuid-ossp, {name: pg-trgm-like}]}]\n"
    )
    assert _report(tmp_path, good)[0] == []
    bad = base + '      vars:\n        pg_cluster: pg-meta\n        pg_libs: "x\'; DROP"\n'
    assert _report(tmp_path, bad)[0] == ['all.children.pg-meta.vars.pg_libs: "x\'; DROP" is not a valid library list']


def test_the_scrape_timeout_follows_a_short_interval_unless_written(tmp_path: Path) -> None:
    from pigsalt.inventory.params import scrape_timeout

    def text(extra: str = "") -> str:
        return "all:\n  vars:\n    prometheus_scrape_interval: 2s\n" + extra + "  children:\n" + META

    assert _report(tmp_path, text())[0] == []
    assert (scrape_timeout("2s", None), scrape_timeout("10s", None), scrape_timeout("2s", "1s")) == ("2s", "8s", "1s")
    (error,) = _report(tmp_path, text("    prometheus_scrape_timeout: 5s\n"))[0]
    assert error.startswith("all.vars.prometheus_scrape_timeout: is 5s, longer than prometheus_scrape_interval (2s)")


def test_pigstys_listen_placeholders_are_the_members_addresses(tmp_path: Path) -> None:
    from pigsalt.pillar.compile import listen

    assert listen("${ip},${vip},${lo}", "10.10.10.11") == "10.10.10.11,127.0.0.1"
    assert listen("${lo6}, ${ip}", "10.10.10.11") == "::1,10.10.10.11"
    assert listen("${vip}", "10.10.10.11") == "10.10.10.11"
    assert listen("0.0.0.0", "10.10.10.11") == "0.0.0.0"
    text = (
        "all:\n  children:\n" + META + "    pg-meta:\n      hosts: {10.10.10.11: {pg_seq: 1, pg_role: primary}}\n"
        "      vars: {pg_cluster: pg-meta, pg_listen: '${ip},${vip},${lo}'}\n"
    )
    path = tmp_path / "pigsty.yml"
    path.write_text(text)
    report = check(path).report
    assert report.ok, report.errors
    (warning,) = [p for p in report.warnings if p.path.endswith("pg_listen")]
    assert warning.message.startswith("${vip}: dropped, Postgres binds no address its member does not hold")
    path.write_text(text.replace("${lo}", "${home}"))
    assert [p.path for p in check(path).report.errors] == ["all.children.pg-meta.vars.pg_listen"]


def test_an_infra_hosts_own_admin_ip_is_ignored_with_a_warning(tmp_path: Path) -> None:
    text = (
        "all:\n  vars: {admin_ip: 10.10.10.10}\n  children:\n"
        "    infra:\n      hosts:\n        10.10.10.10: {infra_seq: 1, admin_ip: 10.10.10.10}\n"
    )
    path = tmp_path / "pigsty.yml"
    path.write_text(text)
    report = check(path).report
    assert report.ok, report.errors
    assert any(p.path.endswith("10.10.10.10.admin_ip") and "ignored" in p.message for p in report.warnings)
