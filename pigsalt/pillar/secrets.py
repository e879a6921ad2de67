"""Generated passwords, stored once so that every rebuild gives the same pillar.

The store is a YAML mapping ``{parameter: value}`` in a file of mode 0600. Passwords the
inventory sets are never copied into it. A store readable by others is refused.
"""

from __future__ import annotations

import fcntl
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_atomic

SECRETS_FILE = "secrets.yml"
SECRETS_MODE = 0o600
# Parameters whose value pigsalt generates when the inventory leaves them unset.
GENERATED = (
    "pg_admin_password",
    "pg_monitor_password",
    "pg_replication_password",
    "patroni_password",
    "haproxy_admin_password",
    "grafana_admin_password",
)


def secrets_path(inventory: Path) -> Path:
    """Where an inventory's generated secrets live: ``<dir>/secrets.yml`` or ``<name>.secrets.yml``."""
    if inventory.is_dir():
        return inventory / SECRETS_FILE
    return inventory.with_name(f"{inventory.stem}.secrets.yml")


def read(path: Path) -> dict[str, str]:
    """The stored secrets; an absent file is an empty store."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PigsaltError(
            f"{path}: secrets file is accessible by others (mode {info.st_mode & 0o777:04o}); run chmod 600 {path}"
        )
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise PigsaltError(f"{path}: secrets file must map parameter names to strings")
    return {str(k): v for k, v in data.items()}


def new_password() -> str:
    return secrets.token_urlsafe(24)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(path: Path, needed: Iterable[str]) -> Mapping[str, str]:
    """Stored secrets with a new password for each ``needed`` name that has none (saved 0600)."""
    needed = sorted(set(needed))
    current = read(path)
    if all(name in current for name in needed):
        return current
    with _locked(path):
        current = read(path)
        missing = [name for name in needed if name not in current]
        if missing:
            current.update({name: new_password() for name in missing})
            try:
                write_atomic(
                    path, yaml.safe_dump(dict(sorted(current.items())), default_flow_style=False), SECRETS_MODE
                )
            except OSError as err:
                raise PigsaltError(f"{path}: cannot store generated secrets: {err.strerror}") from None
    return current


def dump(values: Mapping[str, str], path: Path) -> bool:
    """Write a secrets file (0600) with exactly ``values``; True when it changed."""
    return write_atomic(path, yaml.safe_dump(dict(sorted(values.items())), default_flow_style=False), SECRETS_MODE)
