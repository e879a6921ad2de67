"""A real Salt master and four minions (salt-factories), with pigsalt's ext_pillar.

The master reads a pillar directory built from the sandbox inventory; the minions carry the
sandbox's node names. Keys are handled by salt-factories (it is a test harness, not a product
path; the sandbox accepts keys by fingerprint).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.pillar.build import build
from tests.conftest import ROOT, copy_example

MINIONS = ("meta", "node-1", "node-2", "node-3")


@pytest.fixture(scope="session")
def salt_factories_default_root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("salt-factories")


@pytest.fixture(scope="session")
def salt_factories_config() -> dict[str, object]:
    return {"slow_stop": False}


@pytest.fixture(scope="package")
def pillar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("inventory")
    out = work / "pillar"
    build(copy_example("sandbox", work), out)
    return out


@pytest.fixture(scope="package")
def extmods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file root holding only _modules and _states (symlinks), as `pigsalt master setup` lays out."""
    root = tmp_path_factory.mktemp("extmods")
    for name in ("_modules", "_states"):
        (root / name).symlink_to(ROOT / name)
    return root


@pytest.fixture(scope="package")
def salt_master(salt_factories, pillar_dir: Path, extmods: Path) -> Iterator[object]:
    overrides = {
        "interface": "127.0.0.1",
        "file_roots": {"base": [str(ROOT / "salt"), str(extmods)]},
        "pillar_roots": {"base": [str(ROOT / "pillar")]},
        "ext_pillar": [{"pigsalt": {"inventory": str(pillar_dir)}}],
        "auto_accept": False,
        "open_mode": False,
        "worker_threads": 3,
    }
    factory = salt_factories.salt_master_daemon("pigsalt-master", overrides=overrides)
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def minions(salt_master) -> Iterator[dict[str, object]]:
    started = {}
    factories = {name: salt_master.salt_minion_daemon(name, overrides={"master": "127.0.0.1"}) for name in MINIONS}
    try:
        for name, factory in factories.items():
            factory.start(start_timeout=120)
            started[name] = factory
        yield started
    finally:
        for factory in started.values():
            factory.terminate()


@pytest.fixture
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=120)


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True)
