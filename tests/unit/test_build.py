"""pillar build: the pillar directory, hand edits of one cluster, nothing written on error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import InventoryError
from pigsalt.pillar.build import build, node_pillar


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_build_writes_one_file_per_cluster_and_private_secrets(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    result = build(sandbox_inventory, out)
    assert sorted(str(p.relative_to(out)) for p in result.written) == [
        "all.yml",
        "clusters/pg-meta.yml",
        "clusters/pg-test.yml",
        "secrets.yml",
    ]
    assert os.stat(out / "secrets.yml").st_mode & 0o777 == 0o600
    assert yaml.safe_load((out / "clusters/pg-test.yml").read_text())["pg-test"]["vars"]["vip_address"] == "10.10.10.3"
    # The directory is itself an inventory and gives every node the same pillar as the file.
    for node in ("meta", "node-1", "node-2", "node-3"):
        assert node_pillar(out, node)[0] == node_pillar(sandbox_inventory, node)[0]


def test_second_build_changes_nothing(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    before = tree(out)
    result = build(sandbox_inventory, out)
    assert result.written == ()
    assert tree(out) == before


def test_hand_edit_of_one_cluster_file_reaches_its_nodes(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    cluster_file = out / "clusters" / "pg-test.yml"
    data = yaml.safe_load(cluster_file.read_text())
    data["pg-test"]["vars"]["pg_users"].append({"name": "alice", "password": "A.Pass", "roles": ["dbrole_readonly"]})
    cluster_file.write_text(yaml.safe_dump(data))
    # The system users first (pgsql.users keeps them, a rotated password too), then the defaults.
    defaults = ["replicator", "dbuser_dba", "dbuser_monitor"]
    defaults += ["dbrole_readonly", "dbrole_offline", "dbrole_readwrite", "dbrole_admin"]
    roles = [r["args"]["name"] for r in node_pillar(out, "node-2")[0]["pigsty"]["pg"]["roles"]]
    assert roles == [*defaults, "alice", "test"]
    assert "pg" in node_pillar(out, "meta")[0]["pigsty"]
    roles = [r["args"]["name"] for r in node_pillar(out, "meta")[0]["pigsty"]["pg"]["roles"]]
    assert roles == [*defaults, "dbuser_meta", "dbuser_view"]


def test_invalid_inventory_writes_nothing(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    before = tree(out)
    text = sandbox_inventory.read_text().replace("pg_seq: 2, pg_role: replica", "pg_seq: 1, pg_role: replica")
    sandbox_inventory.write_text(text)
    with pytest.raises(InventoryError, match=r"pg_seq: duplicate of"):
        build(sandbox_inventory, out)
    assert tree(out) == before


def test_removed_cluster_file_is_deleted(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    (out / "clusters" / "pg-old.yml").write_text("pg-old: {}\n")
    result = build(sandbox_inventory, out)
    assert [p.name for p in result.removed] == ["pg-old.yml"]


def test_cluster_file_must_hold_its_own_group(sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    (out / "clusters" / "pg-x.yml").write_text("pg-y: {hosts: {}}\n")
    with pytest.raises(PigsaltError, match=r"pg-x.yml: must hold exactly one group named 'pg-x'"):
        node_pillar(out, "node-1")
