"""Turning an inventory into pillar: the pillar directory and any node's derived pillar.

``build`` splits a Pigsty inventory into ``all.yml`` and ``clusters/<name>.yml`` under the
pillar directory that the master's ext_pillar reads, so that one cluster can be edited by hand
and the next orchestration applies it with no other step. Nothing is written unless the whole
inventory is valid; each file is replaced atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pigsalt.fileio import write_atomic
from pigsalt.inventory import load as loader
from pigsalt.inventory.model import Loaded, open_inventory
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.compile import compile_node, needed_secrets
from pigsalt.wheellock import WheelLock

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
HEADER = (
    "# Written by `pigsalt pillar build`; pigsalt's ext_pillar reads this directory.\n"
    "# Edit it by hand if you like: the next orchestration applies the change.\n"
)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    removed: tuple[Path, ...]
    loaded: Loaded


def _dump(data: Any) -> str:
    return HEADER + yaml.safe_dump(data, default_flow_style=False, sort_keys=False, width=120)


def node_pillar(
    inventory: Path, node: str, secrets_file: Path | None = None, lock: WheelLock | None = None
) -> tuple[dict[str, Any], Loaded]:
    """The full derived pillar one node receives (what the ext_pillar returns for it). Only
    reads: a generated password the store does not hold yet shows as ``secrets.MISSING``.
    ``lock``: the wheel lock (the packaged one by default)."""
    inv, loaded = open_inventory(inventory)
    target = inv.node(node)
    path = secrets_file or secret_store.secrets_path(inventory)
    store = secret_store.placeholders(secret_store.read(path, missing_ok=True), needed_secrets(inv))
    return compile_node(inv, target, store, lock=lock), loaded


def cluster_members(inventory: Path) -> dict[str, dict[str, Any]]:
    """Each cluster's members by minion id, the inventory's primary apart (it bootstraps a new
    cluster): what the orchestrations target (the ``pigsalt.clusters`` runner)."""
    inv, _ = open_inventory(inventory)
    clusters = {}
    for cluster in inv.clusters:
        primary = inv.node(cluster.primary.ip).name
        others = [inv.node(i.ip).name for i in cluster.instances if i.role != "primary"]
        clusters[cluster.name] = {"primary": primary, "replicas": others}
    return clusters


def build(inventory: Path, out_dir: Path, secrets_file: Path | None = None) -> BuildResult:
    """Validate, then write the pillar directory for ``inventory``: its files and the secrets
    store (created or completed here, the one step that generates passwords). The directory is
    0700 and every file 0600: they hold passwords. ``secrets_file`` (default: a store beside a
    single-file inventory, from earlier releases) is read, never written."""
    inv, loaded = open_inventory(inventory)
    store_path = out_dir / secret_store.SECRETS_FILE
    adopt = secrets_file or secret_store.secrets_path(inventory)
    _, store_changed = secret_store.create(store_path, needed_secrets(inv), adopt=adopt)
    raw = loaded.raw["all"]
    children = raw.get("children") or {}
    clusters = {
        n: g
        for n, g in children.items()
        if "pg_cluster" in ((g or {}).get("vars") or {}) and n not in ("meta", "infra")
    }
    rest = {n: g for n, g in children.items() if n not in clusters}
    files: dict[Path, str] = {
        out_dir / loader.ALL_FILE: _dump({"all": {"vars": raw.get("vars") or {}, "children": rest}}),
    }
    for name, group in clusters.items():
        files[out_dir / loader.CLUSTERS_DIR / f"{name}.yml"] = _dump({name: group})
    written: list[Path] = []
    unchanged: list[Path] = []
    (out_dir / loader.CLUSTERS_DIR).mkdir(mode=PRIVATE_DIR, exist_ok=True)
    (out_dir / loader.CLUSTERS_DIR).chmod(PRIVATE_DIR)
    for path, text in files.items():
        (written if write_atomic(path, text, PRIVATE_FILE) else unchanged).append(path)
    (written if store_changed else unchanged).append(store_path)
    removed = []
    for stale in sorted((out_dir / loader.CLUSTERS_DIR).glob("*.yml")):
        if stale not in files:
            stale.unlink()
            removed.append(stale)
    return BuildResult(out_dir, tuple(written), tuple(unchanged), tuple(removed), loaded)
