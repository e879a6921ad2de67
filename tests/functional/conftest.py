"""A local Salt minion (no master, no daemon) that renders the project's SLS files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import salt.client
import salt.config

from tests.conftest import ROOT


def local_minion_opts(root: Path, minion_id: str, pillar_dir: Path) -> dict[str, Any]:
    """Options of a masterless minion under ``root`` that serves the project's salt/ tree."""
    opts: dict[str, Any] = salt.config.minion_config(None)
    opts.update(
        {
            "id": minion_id,
            "root_dir": str(root),
            "cachedir": str(root / "cache"),
            "pki_dir": str(root / "pki"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "minion.log"),
            "file_client": "local",
            "file_roots": {"base": [str(ROOT / "salt")]},
            "pillar_roots": {"base": [str(pillar_dir)]},
            "module_dirs": [str(ROOT / "_modules")],
            "states_dirs": [str(ROOT / "_states")],
            "grains_dirs": [str(ROOT / "_grains")],
        }
    )
    return opts


@pytest.fixture(scope="session")
def salt_caller(tmp_path_factory: pytest.TempPathFactory) -> salt.client.Caller:
    root = tmp_path_factory.mktemp("salt-local")
    empty_pillar = root / "pillar"
    empty_pillar.mkdir()
    opts = local_minion_opts(root, "functional", empty_pillar)
    return salt.client.Caller(mopts=opts)


def project_sls() -> list[str]:
    """Every state SLS under salt/ as a dotted name (``node.hostname``), top.sls and the
    reactor's SLS excepted (the master's Reactor renders those with an event's ``tag`` and
    ``data``: tests/functional/test_reactor_render.py)."""
    names = []
    for path in sorted((ROOT / "salt").rglob("*.sls")):
        rel = path.relative_to(ROOT / "salt").with_suffix("")
        if rel == Path("top") or rel.parts[0] == "reactor":
            continue
        parts = rel.parts[:-1] if rel.name == "init" else rel.parts
        names.append(".".join(parts))
    return names
