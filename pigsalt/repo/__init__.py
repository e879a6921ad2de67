"""The offline repository: every .deb and wheel a pigsalt deployment installs, signed, in one tree.

One flat APT repository per Debian release (``apt/<codename>/``) and one wheelhouse with wheels
for each release's Python. Build it on a machine that reaches a Debian mirror and PyPI; copy it
(``--tarball``) to the meta node, which serves it at ``http://repo.pigsty/``. See docs/repo.md.
"""

from __future__ import annotations

from pigsalt.repo.build import (
    DEFAULT_CACHE_DIR,
    DEFAULT_REPO_DIR,
    RepoStatus,
    add_packages,
    build_repo,
    check_wheel_lock,
    ensure_repo,
    lock_repo,
    read_repo,
    remove_packages,
    repo_status,
    write_tarball,
)
from pigsalt.repo.manifest import KEYRING_NAME, RepoInfo
from pigsalt.repo.signing import DEFAULT_KEY_DIR

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_KEY_DIR",
    "DEFAULT_REPO_DIR",
    "KEYRING_NAME",
    "RepoInfo",
    "RepoStatus",
    "add_packages",
    "build_repo",
    "check_wheel_lock",
    "ensure_repo",
    "lock_repo",
    "read_repo",
    "remove_packages",
    "repo_status",
    "write_tarball",
]
