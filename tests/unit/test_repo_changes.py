"""What a build changed: two manifests compared, release by release, and what `pigsalt repo build` prints."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.repo import RepoInfo
from pigsalt.repo.manifest import Change, ReleaseChanges, describe_changes, diff_manifests, release_versions

repo_cli = importlib.import_module("pigsalt.cli.repo")


def entry(debs: list[str], wheels: list[str], added: tuple[str, ...] = (), built_at: str = "") -> dict[str, Any]:
    return {
        "built_at": built_at,
        "python": "3.13",
        "recipe_hash": "h",
        "apt": {"packages": debs, "added": list(added), "requested": ["jq"]},
        "pypi": {"wheels": wheels},
    }


def manifest(**releases: dict[str, Any]) -> dict[str, Any]:
    return {"format": 2, "releases": releases, "pypi": {"wheels": []}}


OLD = manifest(
    bookworm=entry(
        ["libssl3=3.0.15-1~deb12u1", "openssl=3.0.15-1~deb12u1", "jq=1.6-2.1", "sudo=1.9.13p3-1+deb12u1"],
        ["patroni-4.1.5-py3-none-any.whl", "PyYAML-6.0.4-cp311-cp311-manylinux2014_x86_64.whl"],
        built_at="2026-12-01T10:00:00Z",
    ),
    trixie=entry(["jq=1.7.1-6"], ["patroni-4.1.5-py3-none-any.whl"], built_at="2026-12-01T10:00:00Z"),
    sid=entry(["jq=1.8"], []),
)
NEW = manifest(
    bookworm=entry(
        ["libssl3=3.0.16-1~deb12u1", "openssl=3.0.16-1~deb12u1", "jq=1.6-2.1", "less=590-2.1~deb12u2"],
        ["patroni-4.1.6-py3-none-any.whl", "pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.whl"],
        added=("grafana=11.4.0",),
    ),
    trixie=entry(["jq=1.7.1-6"], ["patroni-4.1.5-py3-none-any.whl"]),
    forky=entry(["jq=1.8"], []),
)


def test_two_manifests_differ_by_the_versions_of_each_release() -> None:
    assert diff_manifests(OLD, NEW) == [
        ReleaseChanges(
            "bookworm",
            "changed",
            "2026-12-01T10:00:00Z",
            debs=(
                Change("grafana", None, "11.4.0"),
                Change("less", None, "590-2.1~deb12u2"),
                Change("libssl3", "3.0.15-1~deb12u1", "3.0.16-1~deb12u1"),
                Change("openssl", "3.0.15-1~deb12u1", "3.0.16-1~deb12u1"),
                Change("sudo", "1.9.13p3-1+deb12u1", None),
            ),
            wheels=(Change("patroni", "4.1.5", "4.1.6"),),  # PyYAML → pyyaml is the same project
        ),
        ReleaseChanges("trixie", "unchanged", "2026-12-01T10:00:00Z"),
        ReleaseChanges("forky", "new"),
        ReleaseChanges("sid", "dropped"),
    ]


def test_a_first_build_or_an_older_format_has_nothing_to_compare_with() -> None:
    assert diff_manifests(None, NEW) == [
        ReleaseChanges("bookworm", "new"),
        ReleaseChanges("trixie", "new"),
        ReleaseChanges("forky", "new"),
    ]
    assert diff_manifests({"format": 1, "releases": OLD["releases"]}, NEW)[0].status == "new"


def test_versions_of_one_release_by_name() -> None:
    debs, wheels = release_versions(entry(["a=1", "a=2", "b=3"], ["zc.lockfile-4.0-py3-none-any.whl"], ("c=4",)))
    assert debs == {"a": "1 2", "b": "3", "c": "4"}
    assert wheels == {"zc-lockfile": "4.0"}


def test_the_build_prints_a_line_per_release_and_one_per_changed_package() -> None:
    assert describe_changes(diff_manifests(OLD, NEW)) == [
        "bookworm: 5 Debian packages and 1 wheel changed since its build of 2026-12-01T10:00:00Z:",
        "  deb    grafana 11.4.0 (new)",
        "  deb    less 590-2.1~deb12u2 (new)",
        "  deb    libssl3 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1",
        "  deb    openssl 3.0.15-1~deb12u1 -> 3.0.16-1~deb12u1",
        "  deb    sudo 1.9.13p3-1+deb12u1 (gone)",
        "  wheel  patroni 4.1.5 -> 4.1.6",
        "trixie: no package changed since its build of 2026-12-01T10:00:00Z",
        "forky: new in this repository",
        "sid: dropped (no longer in the recipe)",
    ]
    only_wheel = [ReleaseChanges("trixie", "changed", "", wheels=(Change("patroni", "4.1.5", "4.1.6"),))]
    assert describe_changes(only_wheel)[0] == "trixie: 1 wheel changed since its last build:"


def info(path: Path) -> RepoInfo:
    return RepoInfo(
        path=path,
        apt_dir=path / "apt",
        pypi_dir=path / "pypi",
        keyring=path / "apt" / "pigsalt-archive-keyring.gpg",
        releases=("bookworm",),
        python_versions={"bookworm": "3.11"},
        key_fingerprint="ABCD",
    )


def test_repo_build_prints_what_changed_since_the_repository_it_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "repo"
    dest.mkdir()
    old = manifest(bookworm=OLD["releases"]["bookworm"])
    new = manifest(bookworm=NEW["releases"]["bookworm"])
    (dest / "manifest.json").write_text(json.dumps(old))

    def fake_build(dest: Path, releases: object, progress: object, force: bool) -> RepoInfo:
        (dest / "manifest.json").write_text(json.dumps(new))
        return info(dest)

    monkeypatch.setattr(repo_cli, "build_repo", fake_build)
    result = CliRunner().invoke(main, ["repo", "build", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [
        "bookworm: 5 Debian packages and 1 wheel changed since its build of 2026-12-01T10:00:00Z:",
        "  deb    grafana 11.4.0 (new)",
    ]
    assert "  wheel  patroni 4.1.5 -> 4.1.6" in lines

    # Over a repository of another format (or none): each release is new.
    (dest / "manifest.json").write_text(json.dumps({"format": 1}))
    result = CliRunner().invoke(main, ["repo", "build", "--dest", str(dest)])
    assert result.output.splitlines()[0] == "bookworm: new in this repository"
