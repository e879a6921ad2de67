"""The CLI as users meet it: exit codes, one-line errors, where the inventory is found."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.cli.pillar import HIDDEN


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIGSALT_INVENTORY", raising=False)
    return CliRunner()


def test_init_writes_the_default_sandbox_inventory_and_refuses_to_overwrite(runner: CliRunner, tmp_path: Path):
    result = runner.invoke(main, ["init"])
    assert (result.exit_code, result.output) == (0, "wrote pigsty.yml\n")
    inv = yaml.safe_load((tmp_path / "pigsty.yml").read_text())
    assert inv["all"]["children"]["pg-test"]["vars"]["vip_address"] == "10.10.10.3"
    assert list(inv["all"]["children"]["pg-test"]["hosts"]) == ["10.10.10.11", "10.10.10.12", "10.10.10.13"]
    again = runner.invoke(main, ["init"])
    assert again.exit_code == 2
    assert again.output == "Error: pigsty.yml already exists; use --force to overwrite it\n"


def test_inventory_is_found_by_option_then_environment_then_cwd(runner: CliRunner, tmp_path: Path, monkeypatch):
    runner.invoke(main, ["init"])
    runner.invoke(main, ["init", "-i", "other.yml"])
    assert runner.invoke(main, ["validate"]).output.startswith("pigsty.yml: valid")
    monkeypatch.setenv("PIGSALT_INVENTORY", "other.yml")
    assert runner.invoke(main, ["validate"]).output.startswith("other.yml: valid")
    assert runner.invoke(main, ["validate", "-i", "pigsty.yml"]).output.startswith("pigsty.yml: valid")


def test_missing_inventory_is_one_line_exit_2(runner: CliRunner):
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert result.output == "Error: pigsty.yml: inventory not found (use -i PATH or set PIGSALT_INVENTORY)\n"


def test_invalid_yaml_names_file_and_line(runner: CliRunner, tmp_path: Path):
    (tmp_path / "pigsty.yml").write_text("all:\n  vars: {a: [1, 2}\n")
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: pigsty.yml:2: invalid YAML")
    assert "Traceback" not in result.output


def test_validate_json_lists_errors_and_writes_nothing(runner: CliRunner, tmp_path: Path):
    runner.invoke(main, ["init"])
    path = tmp_path / "pigsty.yml"
    path.write_text(path.read_text().replace("pg_role: offline", "pg_role: standby"))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(main, ["validate", "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["ok"] is False
    assert doc["errors"] == [
        {
            "path": "all.children.pg-test.hosts.10.10.10.13.pg_role",
            "message": "'standby' is not one of primary, replica, offline",
        }
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_pillar_build_then_show_hides_secrets_by_default(runner: CliRunner, tmp_path: Path):
    runner.invoke(main, ["init"])
    built = runner.invoke(main, ["pillar", "build"])
    assert built.exit_code == 0, built.output
    assert "pillar/inventory: 4 written, 0 unchanged" in built.output
    shown = runner.invoke(main, ["pillar", "show", "node-1", "-i", "pillar/inventory", "--json"])
    assert shown.exit_code == 0, shown.output
    pg = json.loads(shown.output)["pigsty"]["pg"]
    assert (pg["instance"], pg["role"], pg["system_users"]["admin"]["password"]) == ("pg-test-1", "primary", HIDDEN)
    secret = runner.invoke(main, ["pillar", "show", "pg-test-1", "-i", "pillar/inventory", "--show-secrets"])
    stored = yaml.safe_load((tmp_path / "pillar/inventory/secrets.yml").read_text())
    assert stored["clusters"]["pg-test"]["pg_admin_password"] in secret.output
    assert stored["clusters"]["pg-meta"]["pg_admin_password"] != stored["clusters"]["pg-test"]["pg_admin_password"]
    # Every file holds passwords: 0600 in 0700 directories, and nothing beside the inventory.
    out = tmp_path / "pillar/inventory"
    assert {oct(p.stat().st_mode & 0o777) for p in (out, out / "clusters")} == {"0o700"}
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*.yml")} == {"0o600"}
    assert not (tmp_path / "pigsty.secrets.yml").exists()


def test_pillar_show_before_build_writes_nothing_and_says_so(runner: CliRunner, tmp_path: Path):
    runner.invoke(main, ["init"])
    before = sorted(p.name for p in tmp_path.iterdir())
    shown = runner.invoke(main, ["pillar", "show", "node-1", "--json"])
    assert shown.exit_code == 0, shown.output
    pg = json.loads(shown.output)["pigsty"]["pg"]
    assert pg["system_users"]["admin"]["password"] == "<not generated yet: run pigsalt pillar build>"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    validated = runner.invoke(main, ["validate"])
    assert validated.exit_code == 0, validated.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_pillar_show_unknown_node(runner: CliRunner):
    runner.invoke(main, ["init"])
    result = runner.invoke(main, ["pillar", "show", "node-9"])
    assert result.exit_code == 2
    assert result.output == "Error: node 'node-9' is not in the inventory (nodes: meta, node-1, node-2, node-3)\n"


def test_pillar_build_of_invalid_inventory_is_one_line_and_writes_nothing(runner: CliRunner, tmp_path: Path):
    runner.invoke(main, ["init"])
    path = tmp_path / "pigsty.yml"
    path.write_text(path.read_text().replace("vip_address: 10.10.10.3", "vip_address: 10.10.9.3"))
    result = runner.invoke(main, ["pillar", "build"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: pigsty.yml: all.children.pg-test.vars.vip_address: 10.10.9.3/24 does not")
    assert not (tmp_path / "pillar").exists()
    assert not (tmp_path / "pigsty.secrets.yml").exists()


def all_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("args", all_commands(), ids=" ".join)
def test_every_command_has_help_with_examples(runner: CliRunner, args: tuple[str, ...]):
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert "Examples:" in result.output


def test_init_writes_private_inventory_with_generated_user_passwords(runner: CliRunner, tmp_path: Path):
    assert runner.invoke(main, ["init"]).exit_code == 0
    path = tmp_path / "pigsty.yml"
    assert path.stat().st_mode & 0o777 == 0o600
    users = [
        u
        for g in yaml.safe_load(path.read_text())["all"]["children"].values()
        for u in (g.get("vars") or {}).get("pg_users", [])
    ]
    assert len(users) == 3 and all(len(u["password"]) >= 24 for u in users)
    assert "DBUser" not in path.read_text()
    validated = runner.invoke(main, ["validate"])
    assert "published default password" not in validated.output
