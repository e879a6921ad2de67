from __future__ import annotations

import os
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.pillar import secrets
from pigsalt.pillar.secrets import Needs

NEEDS = Needs(
    infra=frozenset({"grafana_admin_password"}),
    clusters={"pg-meta": frozenset({"pg_admin_password"}), "pg-test": frozenset({"pg_admin_password"})},
)


def test_one_set_per_cluster_generated_once_then_stable_and_private(tmp_path: Path):
    path = tmp_path / "store" / "secrets.yml"
    first, changed = secrets.create(path, NEEDS)
    assert changed
    assert len(first.cluster("pg-test")["pg_admin_password"]) >= 32
    assert first.cluster("pg-test")["pg_admin_password"] != first.cluster("pg-meta")["pg_admin_password"]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    more = Needs(infra=NEEDS.infra, clusters={**NEEDS.clusters, "pg-new": frozenset({"patroni_password"})})
    again, changed = secrets.create(path, more)
    assert changed
    assert again.cluster("pg-test") == first.cluster("pg-test")
    assert set(again.cluster("pg-new")) == {"patroni_password"}
    assert secrets.create(path, more) == (again, False)
    assert secrets.read(path) == again


def test_reading_never_generates_a_missing_store_or_password(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    with pytest.raises(PigsaltError, match=r"the secrets store does not exist; `pigsalt pillar build` creates it"):
        secrets.read(path)
    assert not path.exists()
    store, _ = secrets.create(path, NEEDS)
    more = Needs(infra=NEEDS.infra, clusters={**NEEDS.clusters, "pg-new": frozenset({"patroni_password"})})
    with pytest.raises(PigsaltError, match=r"no generated password for clusters.pg-new.patroni_password; run"):
        secrets.resolve(secrets.read(path), more, path)
    assert secrets.read(path) == store
    shown = secrets.placeholders(secrets.read(path), more)
    assert shown.cluster("pg-new")["patroni_password"] == secrets.MISSING
    assert shown.cluster("pg-test") == store.cluster("pg-test")


def test_a_shared_store_of_earlier_releases_keeps_each_clusters_values(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    secrets.dump({"pg_admin_password": "shared", "grafana_admin_password": "graf"}, path)
    legacy = secrets.read(path)
    assert legacy.legacy
    resolved = secrets.resolve(legacy, NEEDS, path)
    assert resolved.cluster("pg-meta")["pg_admin_password"] == resolved.cluster("pg-test")["pg_admin_password"]
    assert resolved.infra == {"grafana_admin_password": "graf"}
    converted, changed = secrets.create(path, NEEDS)
    assert changed and not converted.legacy
    assert converted.cluster("pg-test")["pg_admin_password"] == "shared"
    assert secrets.read(path) == converted


def test_rotate_changes_only_the_named_passwords(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    store, _ = secrets.create(path, NEEDS)
    rotated = secrets.rotate(path, "pg-test", ["pg_admin_password"])
    assert rotated.cluster("pg-test")["pg_admin_password"] != store.cluster("pg-test")["pg_admin_password"]
    assert rotated.cluster("pg-meta") == store.cluster("pg-meta")
    assert secrets.read(path) == rotated
    with pytest.raises(PigsaltError, match="no generated passwords for cluster pg-nope"):
        secrets.rotate(path, "pg-nope", ["pg_admin_password"])


def test_a_store_readable_by_others_is_refused(tmp_path: Path):
    path = tmp_path / "secrets.yml"
    secrets.create(path, NEEDS)
    path.chmod(0o644)
    with pytest.raises(PigsaltError, match="accessible by others"):
        secrets.read(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [a]\n", "clusters must map cluster names"),
        ("clusters:\n  pg-test:\n    pg_admin_password: 3\n", "clusters.pg-test must map parameter names to strings"),
        ("other: {}\n", "unknown key 'other'"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_store_is_one_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "secrets.yml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(PigsaltError, match=message):
        secrets.read(path)


def test_secrets_path_beside_the_inventory(tmp_path: Path):
    assert secrets.secrets_path(tmp_path / "pigsty.yml") == tmp_path / "pigsty.secrets.yml"
    assert secrets.secrets_path(tmp_path) == tmp_path / "secrets.yml"
