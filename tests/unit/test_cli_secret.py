"""``pigsalt secret rotate``: what it changes in the store, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pigsalt.cli import main


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert runner.invoke(main, ["pillar", "build"]).exit_code == 0
    return tmp_path / "pillar/inventory/secrets.yml"


def store(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_rotate_one_user_changes_only_that_password_of_that_cluster(built: Path):
    before = store(built)
    result = CliRunner().invoke(
        main, ["secret", "rotate", "--cluster", "pg-test", "--user", "replicator", "--no-deploy"]
    )
    assert result.exit_code == 0, result.output
    assert "pg-test: new pg_replication_password stored" in result.output
    after = store(built)
    assert (
        after["clusters"]["pg-test"]["pg_replication_password"]
        != before["clusters"]["pg-test"]["pg_replication_password"]
    )
    after["clusters"]["pg-test"]["pg_replication_password"] = before["clusters"]["pg-test"]["pg_replication_password"]
    assert after == before
    assert built.stat().st_mode & 0o777 == 0o600


def test_rotate_a_whole_cluster(built: Path):
    before = store(built)["clusters"]["pg-meta"]
    result = CliRunner().invoke(main, ["secret", "rotate", "--cluster", "pg-meta", "--no-deploy"])
    assert result.exit_code == 0, result.output
    after = store(built)["clusters"]["pg-meta"]
    assert set(after) == set(before)
    # Every password changes; the backups' passphrase stays (the repository could not be read back).
    assert [k for k in before if after[k] == before[k]] == ["pgbackrest_cipher_pass"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cluster", "pg-nope"],
            "Error: --cluster pg-nope: not a cluster of pillar/inventory (clusters: pg-meta, pg-test)\n",
        ),
        (
            ["--cluster", "pg-test", "--user", "alice"],
            "Error: --user alice: not a generated password of pg-test "
            "(one of dbuser_dba, dbuser_monitor, replicator, patroni, haproxy, etcd)\n",
        ),
    ],
)
def test_rotate_refusals_are_one_line_and_change_nothing(built: Path, args: list[str], message: str):
    before = built.read_text()
    result = CliRunner().invoke(main, ["secret", "rotate", "--no-deploy", *args])
    assert (result.exit_code, result.output) == (2, message)
    assert built.read_text() == before


def test_a_password_set_in_the_inventory_is_not_rotated_here(built: Path, tmp_path: Path):
    cluster = tmp_path / "pillar/inventory/clusters/pg-test.yml"
    data = yaml.safe_load(cluster.read_text())
    data["pg-test"]["vars"]["patroni_password"] = "Set.By.The.User.1"
    cluster.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["secret", "rotate", "--cluster", "pg-test", "--user", "patroni", "--no-deploy"])
    assert (result.exit_code, result.output) == (
        2,
        "Error: patroni_password of pg-test is set in the inventory: change it there, then pigsalt deploy\n",
    )


def test_rotate_without_a_store_says_to_build_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["secret", "rotate", "--cluster", "pg-test", "--no-deploy"])
    assert (result.exit_code, result.output) == (
        2,
        "Error: pillar/inventory: no secrets.yml; run pigsalt pillar build first\n",
    )
