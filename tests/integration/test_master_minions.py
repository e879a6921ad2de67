"""Pillar reaches each minion through the master; custom modules sync; edits need no build step."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.integration.conftest import MINIONS


def test_every_minion_receives_its_own_pillar(minions, salt_cli):
    result = salt_cli.run("pillar.get", "pigsty:node", "unmask=True", minion_tgt="*")
    assert result.returncode == 0, result.stderr
    assert {m: result.data[m]["name"] for m in MINIONS} == {m: m for m in MINIONS}
    assert result.data["node-2"]["ip"] == "10.10.10.12"
    instances = salt_cli.run("pillar.get", "pigsty:pg:instance", "unmask=True", minion_tgt="*").data
    assert instances == {"meta": "pg-meta-1", "node-1": "pg-test-1", "node-2": "pg-test-2", "node-3": "pg-test-3"}


def test_secrets_go_only_where_they_are_used(minions, salt_cli):
    grafana = salt_cli.run("pillar.get", "pigsty:infra:grafana:admin_password", "unmask=True", minion_tgt="*").data
    assert grafana["meta"] != ""
    assert [grafana[m] for m in ("node-1", "node-2", "node-3")] == ["", "", ""]


def test_custom_modules_sync_and_run(minions, salt_cli):
    synced = salt_cli.run("saltutil.sync_all", minion_tgt="*")
    assert synced.returncode == 0, synced.stderr
    assert "modules.pigsalt" in synced.data["node-1"]["modules"]
    identity = salt_cli.run("pigsalt.identity", minion_tgt="node-3")
    assert identity.data == {
        "name": "node-3",
        "ip": "10.10.10.13",
        "meta": False,
        "cluster": "pg-test",
        "instance": "pg-test-3",
        "seq": 3,
        "inventory_role": "offline",
    }


SYSTEM_USERS = ("replicator", "dbuser_dba", "dbuser_monitor")


def business_users(salt_cli, minion: str) -> list[str]:
    """The roles pgsql.users creates on ``minion`` (pigsty:pg:roles), the system users (first)
    and Pigsty's default roles apart."""
    roles = salt_cli.run("pillar.get", "pigsty:pg:roles", "unmask=True", minion_tgt=minion).data
    names = [r["args"]["name"] for r in roles]
    assert names[:3] == list(SYSTEM_USERS), names
    return [n for n in names[3:] if not n.startswith("dbrole_")]


def test_hand_edit_of_a_cluster_file_is_seen_on_the_next_pillar_refresh(minions, salt_cli, pillar_dir: Path):
    cluster_file = pillar_dir / "clusters" / "pg-test.yml"
    original = cluster_file.read_text()
    data = yaml.safe_load(original)
    data["pg-test"]["vars"]["pg_users"].append({"name": "alice", "password": "A.Pass", "roles": ["dbrole_readonly"]})
    try:
        cluster_file.write_text(yaml.safe_dump(data))
        assert salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="*").returncode == 0
        assert business_users(salt_cli, "node-1") == ["alice", "test"]
        # Nodes of other clusters are untouched.
        assert business_users(salt_cli, "meta") == ["dbuser_meta", "dbuser_view"]
    finally:
        cluster_file.write_text(original)
        salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt="*")


def test_an_invalid_edit_stops_state_runs_instead_of_applying_half(minions, salt_cli, pillar_dir: Path):
    cluster_file = pillar_dir / "clusters" / "pg-test.yml"
    original = cluster_file.read_text()
    try:
        cluster_file.write_text(original.replace("pg_role: replica", "pg_role: primary"))
        result = salt_cli.run("state.apply", "node.hostname", "test=True", minion_tgt="node-2")
        assert result.returncode != 0
        assert "needs exactly one pg_role: primary" in str(result.data)
    finally:
        cluster_file.write_text(original)
