"""pgsql.install installs the Patroni of the wheel lock: a lock with another version, rendered."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pigsalt.pillar.build import node_pillar
from pigsalt.wheellock import WheelLock, load_lock
from tests.conftest import copy_example


def bumped(lock: WheelLock, python: str, version: str) -> WheelLock:
    """``lock`` with Patroni at ``version`` for ``python``."""
    parts = []
    for part in lock.pythons:
        if part.python == python:
            install = tuple(
                dataclasses.replace(f, version=version, file=f"patroni-{version}-py3-none-any.whl")
                if f.name == "patroni"
                else f
                for f in part.install
            )
            part = dataclasses.replace(part, install=install)
        parts.append(part)
    return dataclasses.replace(lock, pythons=tuple(parts))


def state_args(rendered: dict[str, Any], state_id: str) -> dict[str, Any]:
    body = rendered[state_id]["pigsalt_patroni"]
    return {key: value for item in body if isinstance(item, dict) for key, value in item.items()}


def test_install_sls_follows_the_lock(salt_caller: Any, tmp_path: Path) -> None:
    inventory = copy_example("pigsty-v1", tmp_path)
    path = tmp_path / "wheels.lock"
    path.write_text(bumped(load_lock(), "3.13", "4.1.6").render())
    psycopg = load_lock().python("3.13").version("psycopg")

    pillar = node_pillar(inventory, "pg-meta-1", lock=load_lock(path))[0]  # Debian 13: Python 3.13
    args = state_args(salt_caller.cmd("state.show_sls", "pgsql.install", pillar=pillar), "pgsql-patroni-installed")
    assert args["version"] == "4.1.6"
    assert args["requirements"] == ["patroni[etcd3]==4.1.6", f"psycopg[binary]=={psycopg}"]

    pillar = node_pillar(inventory, "pg-test-1", lock=load_lock(path))[0]  # Debian 12: Python 3.11, unchanged
    args = state_args(salt_caller.cmd("state.show_sls", "pgsql.install", pillar=pillar), "pgsql-patroni-installed")
    assert args["version"] == load_lock().python("3.11").version("patroni")
