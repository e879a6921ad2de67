"""Fixtures shared by every tier: example inventories with fixed secrets."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from pigsalt.pillar import secrets as secret_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "golden" / "inventories"
EXAMPLE_NAMES = tuple(sorted(p.stem for p in EXAMPLES.glob("*.yml")))
# Stable stand-ins for generated passwords, so golden files do not change between runs.
FIXED_SECRETS = {
    name: f"generated-{name.replace('_', '-')}" for name in secret_store.GENERATED + secret_store.CLUSTER_INTERNAL
}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Keep salt-factories' log server and event listener on loopback.

    Both bind 0.0.0.0 unless the platform "is Windows"; that check is their only use of the
    ``platform`` helper, so we answer it for those two modules alone.
    """
    import saltfactories.plugins.event_listener as event_listener
    import saltfactories.plugins.log_server as log_server

    class Loopback:
        @staticmethod
        def is_windows() -> bool:
            return True

    event_listener.platform = Loopback  # type: ignore[attr-defined]
    log_server.platform = Loopback  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Salt's log handlers flush after pytest has closed its streams; do not print those tracebacks."""
    logging.raiseExceptions = False


def copy_example(name: str, dest: Path) -> Path:
    """Copy an example inventory to ``dest`` with a fixed secrets file beside it."""
    path = dest / f"{name}.yml"
    shutil.copy(EXAMPLES / f"{name}.yml", path)
    secret_store.dump(FIXED_SECRETS, secret_store.secrets_path(path))
    return path


@pytest.fixture
def example(tmp_path: Path):
    """``example(name)`` → path of a copy of that example inventory, with fixed secrets."""
    return lambda name: copy_example(name, tmp_path)


@pytest.fixture
def sandbox_inventory(tmp_path: Path) -> Path:
    return copy_example("sandbox", tmp_path)


def build_deb(where: Path, name: str, version: str = "1.0-1", depends: str = "", arch: str = "all") -> Path:
    """A real, minimal .deb: one file under /usr/share/doc/<name>/."""
    root = where / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/doc" / name).mkdir(parents=True)
    (root / "usr/share/doc" / name / "README").write_text(f"{name} {version}\n")
    control = [f"Package: {name}", f"Version: {version}", f"Architecture: {arch}", "Maintainer: pigsalt <t@pigsty>"]
    control += [f"Depends: {depends}"] if depends else []
    control += ["Description: a package pigsalt's tests add to the repository"]
    (root / "DEBIAN/control").write_text("\n".join(control) + "\n")
    out = where / f"{name}_{version}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    return out
