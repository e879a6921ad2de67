"""Build orchestration without the network: when to build, where, and what is reported."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo import build as build_mod
from pigsalt.repo import ensure_repo, read_repo, repo_status, write_tarball
from pigsalt.repo.build import SourceTree, current_recipe_hash
from pigsalt.repo.pypi import source_hash
from pigsalt.repo.recipe import load_recipe

PARTS = (
    "apt/Packages",
    "apt/Packages.gz",
    "apt/Release",
    "apt/InRelease",
    "apt/Release.gpg",
    "apt/pigsalt-archive-keyring.gpg",
    "pypi/simple/index.html",
)


def make_source(root: Path) -> Path:
    (root / "pigsalt").mkdir(parents=True)
    (root / "pigsalt" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (root / "requirements").mkdir()
    (root / "requirements" / "constraints.txt").write_text("salt==3008.3\n")
    (root / "setup.cfg").write_text("[options]\ninstall_requires =\n    salt==3008.3\n    click>=8.1\n")
    return root


def make_repo(dest: Path, source: Path, **overrides: Any) -> dict[str, Any]:
    for part in PARTS:
        (dest / part).parent.mkdir(parents=True, exist_ok=True)
        (dest / part).write_text("x")
    (dest / "apt" / "jq_1.6_amd64.deb").write_text("deb")
    manifest: dict[str, Any] = {
        "format": 1,
        "recipe_hash": current_recipe_hash(load_recipe(), SourceTree(source)),
        "pigsalt_source_hash": source_hash(source),
        "key_fingerprint": "ABCD",
        "built_at": "2025-05-20T12:00:00Z",
        "total_bytes": 12345,
        "apt": {"requested": ["jq"], "packages": ["jq=1.6", "libc6=2.36"], "count": 2, "bytes": 3},
        "pypi": {"wheels": ["salt-3008.3-py3-none-any.whl"], "count": 1, "bytes": 4},
    }
    manifest.update(overrides)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("must not build")


def test_source_tree_knows_its_constraints_and_requirements(tmp_path: Path) -> None:
    tree = SourceTree.find(make_source(tmp_path))
    assert tree.constraints == tmp_path / "requirements" / "constraints.txt"
    assert tree.install_requires() == "salt==3008.3\nclick>=8.1"
    with pytest.raises(PigsaltError, match="is not a pigsalt source checkout"):
        SourceTree.find(tmp_path / "pigsalt")


def test_ensure_repo_reuses_an_up_to_date_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source)
    monkeypatch.setattr(build_mod, "_build", no_build)
    monkeypatch.setattr(build_mod, "_refresh_pigsalt", no_build)
    messages: list[str] = []
    info = ensure_repo(dest, progress=messages.append, source=source, cache_dir=tmp_path / "cache")
    assert info.path == dest
    assert info.apt_dir == dest / "apt"
    assert info.pypi_dir == dest / "pypi"
    assert info.keyring == dest / "apt" / "pigsalt-archive-keyring.gpg"
    assert info.packages == ("jq", "libc6")
    assert info.requested == ("jq",)
    assert info.wheels == ("salt-3008.3-py3-none-any.whl",)
    assert messages == [f"repo: {dest} is up to date (2 debs, 1 wheels)"]


def test_ensure_repo_rebuilds_only_pigsalt_when_its_code_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, pigsalt_source_hash="old")
    refreshed: list[Path] = []
    monkeypatch.setattr(build_mod, "_build", no_build)
    monkeypatch.setattr(build_mod, "_refresh_pigsalt", lambda dest, *a: refreshed.append(dest))
    ensure_repo(dest, source=source, cache_dir=tmp_path / "cache")
    assert refreshed == [dest]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda dest: (dest / "manifest.json").unlink(), "missing"),
        (lambda dest: (dest / "apt" / "InRelease").unlink(), "built from another recipe or incomplete"),
        (
            lambda dest: (dest / "manifest.json").write_text(json.dumps({"recipe_hash": "other"})),
            "built from another recipe or incomplete",
        ),
    ],
)
def test_ensure_repo_builds_when_missing_incomplete_or_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any, reason: str
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source)
    change(dest)
    calls: list[tuple[Path, bool]] = []
    monkeypatch.setattr(build_mod, "_build", lambda dest, progress, force, *a: calls.append((dest, force)))
    messages: list[str] = []
    ensure_repo(dest, progress=messages.append, source=source, cache_dir=tmp_path / "cache")
    assert calls == [(dest, False)]
    assert messages == [f"repo: {dest} is {reason}: building it"]


def test_places_that_must_not_be_replaced(tmp_path: Path) -> None:
    check = build_mod._check_places
    with pytest.raises(PigsaltError, match="refusing to build a repository at /"):
        check(Path("/"), True, tmp_path / "key", tmp_path / "cache")
    with pytest.raises(PigsaltError, match=r"the signing key directory .* must not contain each other"):
        check(tmp_path / "repo", True, tmp_path / "repo" / "key", tmp_path / "cache")
    with pytest.raises(PigsaltError, match=r"the cache directory .* must not contain each other"):
        check(tmp_path / "repo", True, tmp_path / "key", tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(PigsaltError, match="is not empty and holds no pigsalt repository: use --force"):
        check(tmp_path / "home", False, tmp_path / "key", tmp_path / "cache")
    check(tmp_path / "home", True, tmp_path / "key", tmp_path / "cache")
    check(tmp_path / "new", False, tmp_path / "key", tmp_path / "cache")


def test_swap_replaces_the_old_tree_whole(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "old").write_text("old")
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "new").write_text("new")
    build_mod._swap(tmp_path / "staging", tmp_path / "repo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["new"]


def test_read_repo_without_a_repository(tmp_path: Path) -> None:
    with pytest.raises(PigsaltError, match=f"no repository at {tmp_path}: run `pigsalt repo build`"):
        read_repo(tmp_path)
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(PigsaltError, match="not a pigsalt repository manifest"):
        read_repo(tmp_path)


def test_status_reports_missing_parts_and_staleness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert repo_status(tmp_path / "none").problems == (f"no repository at {tmp_path / 'none'}",)
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, recipe_hash="old")
    monkeypatch.setattr(build_mod, "verify_release", lambda apt_dir, keyring: None)
    state = repo_status(dest, source=source)
    assert state.signature_ok is True
    assert state.problems == ()
    assert state.current_hash == current_recipe_hash(load_recipe(), SourceTree(source))
    assert state.up_to_date is False
    (dest / "apt" / "Release.gpg").unlink()
    state = repo_status(dest, source=source)
    assert state.problems == ("missing apt/Release.gpg",)
    assert state.signature_ok is None


def test_tarball_holds_the_tree_under_repo(tmp_path: Path) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source)
    messages: list[str] = []
    tarball = write_tarball(dest, tmp_path / "out" / "repo.tar.gz", progress=messages.append)
    with tarfile.open(tarball) as archive:
        names = sorted(archive.getnames())
        owners = {(m.uid, m.gid, m.uname) for m in archive.getmembers()}
    assert names[0] == "repo"
    assert "repo/apt/jq_1.6_amd64.deb" in names
    assert "repo/manifest.json" in names
    assert owners == {(0, 0, "root")}
    assert messages[0] == f"tarball: writing {tarball}"
    assert list((tmp_path / "out").iterdir()) == [tarball]
    with pytest.raises(PigsaltError, match="cannot be written inside the repository"):
        write_tarball(dest, dest / "x.tar.gz")


def test_file_system_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source(tmp_path / "src")

    def denied(*args: object) -> None:
        raise PermissionError(13, "Permission denied", "/var/lib/pigsalt/cache/repo")

    monkeypatch.setattr(build_mod, "_build", denied)
    with pytest.raises(PigsaltError) as err:
        build_mod.build_repo(tmp_path / "repo", source=source)
    assert err.value.message == (
        "repo: /var/lib/pigsalt/cache/repo: Permission denied (building the repository needs root)"
    )
