"""pgBackRest's pillar: each member's client side, the repository's server on the first meta
node, and the checks of the repository the inventory chooses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pigsalt.inventory.model import open_inventory
from pigsalt.inventory.validate import validate
from pigsalt.pillar import backup, firewall
from tests.conftest import FIXED_SECRETS

# A cluster on Debian 12 (pgBackRest 2.45) beside the sandbox's Debian 13 meta node (2.55.1).
DEBIAN12 = """
    pg-old:
      hosts:
        10.10.10.14: {pg_seq: 1, pg_role: primary}
      vars:
        pg_cluster: pg-old
        node_os: debian12
"""
CIPHER = FIXED_SECRETS["pgbackrest_cipher_pass"]


def _with(inventory: Path, cluster_vars: str = "", extra: str = "") -> Path:
    """The sandbox inventory with ``cluster_vars`` added to pg-test's vars and ``extra`` clusters."""
    text = inventory.read_text()
    if cluster_vars:
        text = text.replace("        pg_cluster: pg-test\n", "        pg_cluster: pg-test\n" + cluster_vars, 1)
    inventory.write_text(text.rstrip("\n") + "\n" + extra if extra else text)
    return inventory


def test_a_member_reaches_the_meta_nodes_repository_with_an_encrypted_stanza(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    found = backup.member(inv, inv.cluster("pg-test"), CIPHER)
    assert found["enabled"] and found["stanza"] == "pg-test"
    assert found["server"] == {"host": "meta", "ip": "10.10.10.10", "port": 8432}
    assert found["options"] == {
        "compress-type": "zst",
        "process-max": 2,
        "repo1-cipher-type": "aes-256-cbc",
        "repo1-retention-full": 2,
        "repo1-retention-full-type": "count",
    }
    assert found["cipher_pass"] == CIPHER
    assert found["replica_command"] == "pgbackrest --stanza=pg-test --delta --type=standby restore"
    assert backup.archive_parameters(inv, inv.cluster("pg-test")) == {
        "archive_mode": "on",
        "archive_command": "pgbackrest --stanza=pg-test archive-push %p",
    }


def test_the_repository_entry_becomes_pgbackrests_options(sandbox_inventory: Path):
    repo = (
        "        pgbackrest_repo:\n"
        "          local: {path: /data/backups, retention_full: 4, retention_diff: 3, bundle: true,\n"
        "                  cipher_type: none, compress_type: lz4, process_max: 4}\n"
    )
    inv, _ = open_inventory(_with(sandbox_inventory, repo))
    found = backup.member(inv, inv.cluster("pg-test"), CIPHER)
    assert found["options"] == {
        "compress-type": "lz4",
        "process-max": 4,
        "repo1-bundle": "y",
        "repo1-retention-diff": 3,
        "repo1-retention-full": 4,
    }
    assert found["cipher_pass"] is None  # cipher_type none: stored in clear, no passphrase written
    stanzas = {s["name"]: s for s in backup.server(inv)["stanzas"]}
    assert stanzas["pg-test"] == {"name": "pg-test", "path": "/data/backups", "nodes": ["node-1", "node-2", "node-3"]}
    assert stanzas["pg-meta"]["path"] == "/pg/backup"


def test_the_server_lets_each_node_reach_its_own_stanza_and_opens_its_port_to_them(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    server = backup.server(inv)
    assert {s["name"]: s["nodes"] for s in server["stanzas"]} == {
        "pg-meta": ["meta"],
        "pg-test": ["node-1", "node-2", "node-3"],
    }
    rules = {r["name"]: r for r in firewall.node_firewall(inv, inv.node("meta"), 9101)["rules"]}
    assert rules["pgBackRest repository (TLS server)"]["port"] == 8432
    assert rules["pgBackRest repository (TLS server)"]["sources"] == [f"10.10.10.{n}/32" for n in (10, 11, 12, 13)]


def test_a_cluster_whose_pgbackrest_differs_from_the_repository_nodes_is_not_backed_up(sandbox_inventory: Path):
    inv, loaded = open_inventory(_with(sandbox_inventory, extra=DEBIAN12))
    (warning,) = [p for p in loaded.report.problems if "pgbackrest" in p.path]
    assert warning.warning and warning.path == "all.children.pg-old.vars.pgbackrest_enabled"
    assert warning.message.startswith("pg-old is not backed up: its members' pgBackRest (2.45)")
    found = backup.member(inv, inv.cluster("pg-old"), CIPHER)
    assert found["enabled"] is False
    assert "(2.45) is not the repository node meta's (2.55.1)" in found["reason"]
    assert backup.archive_parameters(inv, inv.cluster("pg-old")) == {}
    assert "pg-old" not in {s["name"] for s in backup.server(inv)["stanzas"]}
    rules = {r["name"]: r for r in firewall.node_firewall(inv, inv.node("meta"), 9101)["rules"]}
    assert "10.10.10.14/32" not in rules["pgBackRest repository (TLS server)"]["sources"]


def test_disabled_backups_archive_nothing(sandbox_inventory: Path):
    inv, _ = open_inventory(_with(sandbox_inventory, "        pgbackrest_enabled: false\n"))
    assert backup.member(inv, inv.cluster("pg-test"), CIPHER) == {
        "enabled": False,
        "reason": "pgbackrest_enabled is false",
    }
    assert backup.archive_parameters(inv, inv.cluster("pg-test")) == {}


def _problems(inventory: Path) -> list[tuple[str, str, bool]]:
    import yaml

    report = validate(yaml.safe_load(inventory.read_text()))
    return [(p.path, p.message, p.warning) for p in report.problems if "pgbackrest" in p.path]


def test_a_method_that_names_no_repository_is_an_error_naming_the_field(sandbox_inventory: Path):
    found = _problems(_with(sandbox_inventory, "        pgbackrest_method: nas\n"))
    message = "'nas' is not a repository of pgbackrest_repo (local, minio)"
    assert found == [("all.children.pg-test.vars.pgbackrest_method", message, False)]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{path: relative/dir}", "'relative/dir' is not a valid absolute path"),
        ("{path: /pg/backup, retention_full_type: weekly}", "'weekly' is not one of count, time"),
        ("{path: /pg/backup, cipher_type: aes-128}", "'aes-128' is not one of none, aes-256-cbc"),
        ("{path: /pg/backup, retension_full: 2}", "unknown key"),
    ],
)
def test_the_chosen_repository_is_checked_field_by_field(sandbox_inventory: Path, entry: str, message: str):
    found = _problems(_with(sandbox_inventory, f"        pgbackrest_repo:\n          local: {entry}\n"))
    assert len(found) == 1 and found[0][0].startswith("all.children.pg-test.vars.pgbackrest_repo.local")
    assert message in found[0][1] and not found[0][2], found


def test_pigstys_minio_repository_warns_and_the_meta_nodes_repository_is_used(sandbox_inventory: Path):
    minio = (
        "        pgbackrest_method: minio\n"
        "        pgbackrest_repo:\n"
        "          local: {path: /pg/backup, retention_full_type: count, retention_full: 2}\n"
        "          minio: {type: s3, s3_endpoint: sss.pigsty, s3_bucket: pgsql, path: /pgbackrest,\n"
        "                  cipher_type: aes-256-cbc, retention_full_type: time, retention_full: 14}\n"
    )
    inventory = _with(sandbox_inventory, minio)
    (problem,) = _problems(inventory)
    assert problem[0] == "all.children.pg-test.vars.pgbackrest_repo.minio.type" and problem[2] is True
    assert "pigsalt deploys no object store" in problem[1]
    inv, _ = open_inventory(inventory)
    found = backup.member(inv, inv.cluster("pg-test"), CIPHER)
    assert found["options"]["repo1-retention-full"] == 2  # the local entry's


def test_pigsty_2s_minio_method_on_the_default_repositories_warns_too(sandbox_inventory: Path):
    """Pigsty 2.x's pigsty.yml chooses `minio` and leaves pgbackrest_repo to its defaults, which
    hold it: so do pigsalt's."""
    inventory = _with(sandbox_inventory, "        pgbackrest_method: minio\n")
    (problem,) = _problems(inventory)
    assert problem[0] == "all.vars.pgbackrest_repo.minio.type" and problem[2] is True
    inv, _ = open_inventory(inventory)
    assert backup.member(inv, inv.cluster("pg-test"), CIPHER)["options"]["repo1-retention-full"] == 2


def test_a_full_backup_schedule_sets_how_old_the_newest_full_backup_may_grow(sandbox_inventory: Path):
    daily = "        pg_crontab: ['00 01 * * * /pg/bin/pg-backup full', '0 * * * * /pg/bin/pg-backup incr']\n"
    inv, _ = open_inventory(_with(sandbox_inventory, daily))
    # A full backup daily at 01:00: 24 h and a margin of a tenth.
    assert backup.member(inv, inv.cluster("pg-test"), CIPHER)["full_max_age"] == pytest.approx(24 * 3600 * 1.1)


def test_the_most_frequent_full_backup_line_decides(sandbox_inventory: Path):
    lines = "        pg_crontab: ['0 1 * * 0 /pg/bin/pg-backup full', '0 1 1 * * /pg/bin/pg-backup  full']\n"
    inv, _ = open_inventory(_with(sandbox_inventory, lines))
    assert backup.member(inv, inv.cluster("pg-test"), CIPHER)["full_max_age"] == pytest.approx(7 * 24 * 3600 * 1.1)


def test_without_a_full_backup_line_there_is_no_age_to_alert_on(sandbox_inventory: Path):
    inv, _ = open_inventory(_with(sandbox_inventory, "        pg_crontab: ['0 * * * * /pg/bin/pg-backup incr']\n"))
    assert backup.member(inv, inv.cluster("pg-test"), CIPHER)["full_max_age"] is None
    assert backup.member(inv, inv.cluster("pg-meta"), CIPHER)["full_max_age"] is None


def _replica_methods(inventory: Path, node: str) -> list[str]:
    from pigsalt.pillar.build import node_pillar

    return list(node_pillar(inventory, node)[0]["pigsty"]["pg"]["patroni"]["replica_methods"])


def test_replicas_come_from_the_repository_first_where_the_cluster_is_backed_up(sandbox_inventory: Path):
    inventory = _with(sandbox_inventory, extra=DEBIAN12)
    assert _replica_methods(inventory, "node-2") == ["pgbackrest", "basebackup"]
    assert _replica_methods(inventory, "pg-old-1") == ["basebackup"]  # not backed up


@pytest.mark.parametrize(
    ("methods", "expected"),
    [("[basebackup]", ["basebackup"]), ("[]", []), ("[basebackup, pgbackrest]", ["basebackup", "pgbackrest"])],
)
def test_the_inventory_chooses_the_replica_methods(sandbox_inventory: Path, methods: str, expected: list[str]):
    inventory = _with(sandbox_inventory, f"        patroni_replica_methods: {methods}\n")
    assert _replica_methods(inventory, "node-2") == expected


def test_an_unknown_or_repeated_replica_method_is_one_line_naming_the_field(sandbox_inventory: Path):
    import yaml

    for methods, message in (
        ("[pgbackrest, rsync]", "'rsync' is not one of pgbackrest, basebackup"),
        ("[basebackup, basebackup]", "duplicate of all.children.pg-test.vars.patroni_replica_methods[0]"),
    ):
        text = _with(sandbox_inventory, f"        patroni_replica_methods: {methods}\n").read_text()
        report = validate(yaml.safe_load(text))
        found = [(p.path, p.message) for p in report.problems if "replica_methods" in p.path]
        assert found and found[0][1].startswith(message), found
        sandbox_inventory.write_text(text.replace(f"        patroni_replica_methods: {methods}\n", ""))
