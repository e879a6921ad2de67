"""The catalogue of Pigsty's parameter names by release (pigsalt.inventory.catalogue): how it is
built from a repository's tags, what the shipped one holds, and what the validator does with it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pigsalt.inventory import catalogue
from pigsalt.inventory.validate import validate


def _commit(repo: Path, tag: str, files: dict[str, str], remove: tuple[str, ...] = ()) -> None:
    for path in remove:
        (repo / path).unlink()
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", tag, "--allow-empty"], check=True, capture_output=True)
    subprocess.run([*git, "tag", tag], check=True, capture_output=True)


def test_a_checkouts_release_tags_give_each_name_its_runs(tmp_path: Path) -> None:
    repo = tmp_path / "pigsty"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inventory = (
        "all:\n  vars: {version: v1, repo_x: 1}\n  children:\n"
        "    pg-test:\n      hosts: {10.0.0.1: {pg_seq: 1}}\n      vars: {pg_cluster: pg-test}\n"
    )
    _commit(repo, "v0.9.0", {"roles/pg/defaults/main.yml": "ancient: 1\n"})
    _commit(repo, "v1.0.0", {"roles/pg/defaults/main.yml": "pg_port: 5432\nold_name: x\n", "pigsty.yml": inventory})
    _commit(repo, "v1.1.0-rc1", {"roles/pg/defaults/main.yml": "rc_only: 1\n"})
    _commit(repo, "v1.1.0", {"roles/pg/defaults/main.yml": "pg_port: 5432\n", "conf/bad.yml": "a: [\n"})
    _commit(
        repo, "v2.0.0", {"roles/pg/defaults/main.yml": "pg_port: 5432\nold_name: y\n'{{ x }}': 1\n"}, ("pigsty.yml",)
    )
    built = catalogue.build(repo)
    assert built["releases"] == ["v1.0.0", "v1.1.0", "v2.0.0"]
    assert built["params"]["pg_port"] == [[0, 2]]
    assert built["params"]["old_name"] == [[0, 0], [2, 2]]  # gone in v1.1.0, back in v2.0.0
    assert built["params"]["pg_seq"] == built["params"]["pg_cluster"] == [[0, 1]]  # pigsty.yml kept in v1.1.0
    assert "ancient" not in built["params"] and "rc_only" not in built["params"]
    shipped = catalogue.Catalogue(
        tuple(built["releases"]), {k: tuple(map(tuple, v)) for k, v in built["params"].items()}
    )
    assert shipped.span("old_name") == "v1.0.0, v2.0.0"
    assert shipped.only_in([1]) == frozenset({"pg_seq", "pg_cluster", "version", "repo_x"})


def test_the_shipped_catalogue_covers_v1_0_to_v4() -> None:
    found = catalogue.load()
    assert found.releases[0] == "v1.0.0" and found.releases[-1].startswith("v4.")
    assert found.releases == tuple(catalogue.release_tags(found.releases))
    # Names the issue saw refused, each from the release that has it.
    assert found.span("pg_shared_libraries") == "v1.0.0-v1.4.1"
    assert found.span("pg_dcs_type") == "v1.5.0-v1.5.1"
    assert found.span("pg_crontab").startswith("v4.0.0-")
    assert found.known("pg_cluster") and not found.known("pg_clusterr")


def _warnings_and_errors(text: str) -> tuple[list[str], list[str]]:
    report = validate(yaml.safe_load(text))
    return [p.message for p in report.problems if p.warning], [p.message for p in report.problems if not p.warning]


@pytest.mark.parametrize("name", ["pg_shared_libraries", "node_admin_pks", "pg_dcs_type", "grafana_view_password"])
def test_a_real_pigsty_name_of_any_release_is_ignored_not_taken_for_a_typo(sandbox_inventory: Path, name: str) -> None:
    text = sandbox_inventory.read_text().replace(
        "        pg_cluster: pg-test\n", f"        pg_cluster: pg-test\n        {name}: x\n", 1
    )
    warnings, errors = _warnings_and_errors(text)
    assert errors == []
    assert any("pigsalt does not implement, ignored" in w and name in w for w in warnings), warnings


def test_a_name_no_release_ever_had_is_still_a_typo(sandbox_inventory: Path) -> None:
    text = sandbox_inventory.read_text().replace(
        "        pg_cluster: pg-test\n", "        pg_cluster: pg-test\n        pg_usres: []\n", 1
    )
    _, errors = _warnings_and_errors(text)
    assert errors == ["unknown parameter (did you mean 'pg_users'?)"]


def test_the_release_markers_are_names_of_one_side_only() -> None:
    from pigsalt.inventory.pigsty import V1_PARAM_MARKERS, V2_PARAM_MARKERS, markers

    found = catalogue.load()
    v1, v2 = markers()
    assert v1 & v2 == frozenset()
    assert v1 <= found.only_in([1]) | V1_PARAM_MARKERS and v2 <= found.only_in(range(2, 100)) | V2_PARAM_MARKERS
    # pigsalt's own markers are one side's in Pigsty too (where Pigsty has them at all).
    assert not {n for n in V1_PARAM_MARKERS if found.known(n)} - found.only_in([1])
    assert not {n for n in V2_PARAM_MARKERS if found.known(n)} - found.only_in(range(2, 100))
    # v1.0-v1.4 wrote pg_extensions too: it marks no release (it once made v1.0 read as v2).
    assert "pg_extensions" not in v1 | v2 and "meta_node" in v1 and "node_repo_modules" in v2


def test_a_v1_0_style_file_is_read_as_v1() -> None:
    from pigsalt.inventory.pigsty import V1, release

    raw = {"all": {"vars": {"pg_extensions": ["postgis"], "node_admin_pks": []}, "children": {}}}
    assert release(raw).major == V1
