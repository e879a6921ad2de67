from __future__ import annotations

import os
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.pillar import secrets


def test_generated_once_then_stable_and_private(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    first = dict(secrets.ensure(path, ["pg_admin_password"]))
    assert len(first["pg_admin_password"]) >= 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = secrets.ensure(path, ["pg_admin_password", "pg_monitor_password"])
    assert again["pg_admin_password"] == first["pg_admin_password"]
    assert again["pg_monitor_password"] != first["pg_admin_password"]


def test_a_store_readable_by_others_is_refused(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    secrets.ensure(path, ["pg_admin_password"])
    path.chmod(0o644)
    with pytest.raises(PigsaltError, match="accessible by others"):
        secrets.read(path)


def test_secrets_path_beside_the_inventory(tmp_path: Path):
    assert secrets.secrets_path(tmp_path / "pigsty.yml") == tmp_path / "pigsty.secrets.yml"
    assert secrets.secrets_path(tmp_path) == tmp_path / "secrets.yml"
