"""The ext_pillar as the master calls it (loaded by Salt's loader through the entry point)."""

from __future__ import annotations

from pathlib import Path

import pytest
import salt.config
import salt.loader

from pigsalt.pillar.build import build


@pytest.fixture
def ext_pillar(tmp_path: Path):
    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp_path / "cache"), "extension_modules": str(tmp_path / "ext")})
    loaded = salt.loader.pillars(opts, {})
    assert "pigsalt" in loaded, "the salt.loader entry point does not expose pigsalt's ext_pillar"
    return loaded["pigsalt"]


def test_each_minion_gets_its_node_pillar(ext_pillar, sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    data = ext_pillar("node-3", {}, inventory=str(out))
    assert data["pigsty"]["pg"]["instance"] == "pg-test-3"
    assert ext_pillar("10.10.10.10", {}, inventory=str(out))["pigsty"]["node"]["name"] == "meta"


def test_a_minion_outside_the_inventory_gets_nothing(ext_pillar, sandbox_inventory: Path):
    assert ext_pillar("stranger", {}, inventory=str(sandbox_inventory)) == {}


def test_an_invalid_inventory_fails_the_pillar(ext_pillar, sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace("pg_role: replica", "pg_role: primary")
    sandbox_inventory.write_text(text)
    with pytest.raises(RuntimeError, match=r"needs exactly one pg_role: primary"):
        ext_pillar("node-1", {}, inventory=str(sandbox_inventory))


def test_the_runner_lists_each_clusters_members(tmp_path: Path, sandbox_inventory: Path):
    opts = salt.config.master_config(None)
    opts.update(
        {
            "cachedir": str(tmp_path / "cache"),
            "extension_modules": str(tmp_path / "ext"),
            "ext_pillar": [{"pigsalt": {"inventory": str(sandbox_inventory)}}],
        }
    )
    runners = salt.loader.runner(opts)
    assert runners["pigsalt.clusters"]() == {
        "pg-meta": {"primary": "meta", "replicas": []},
        "pg-test": {"primary": "node-1", "replicas": ["node-2", "node-3"]},
    }
