"""``pigsalt repo``: what each command prints and how it exits (the library is stubbed)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.errors import PigsaltError
from pigsalt.repo import RepoInfo, RepoStatus

# The module, not the click group that ``pigsalt.cli`` re-exports under the same name.
repo_cli = importlib.import_module("pigsalt.cli.repo")


def info(path: Path) -> RepoInfo:
    return RepoInfo(
        path=path,
        apt_dir=path / "apt",
        pypi_dir=path / "pypi",
        keyring=path / "apt" / "pigsalt-archive-keyring.gpg",
        releases=("bookworm", "trixie"),
        python_versions={"bookworm": "3.11", "trixie": "3.13"},
        recipe_hashes={"bookworm": "b" * 64, "trixie": "f" * 64},
        packages={"bookworm": ("jq", "libc6"), "trixie": ("jq", "libc6")},
        requested={"bookworm": ("jq",), "trixie": ("jq", "postgresql-17")},
        wheels=("salt-3008.3-py3-none-any.whl",),
        key_fingerprint="ABCD",
        built_at="2025-05-20T12:00:00Z",
        total_bytes=365_000_000,
    )


def test_build_builds_then_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []

    def fake_build(dest: Path, releases: object, progress: object, force: bool) -> RepoInfo:
        calls.append(("build", (dest, releases, force)))
        assert callable(progress)
        progress("apt: resolving")
        return info(dest)

    monkeypatch.setattr(repo_cli, "build_repo", fake_build)
    monkeypatch.setattr(repo_cli, "write_tarball", lambda path, tarball, progress: calls.append(("tar", tarball)))
    dest = tmp_path / "r"
    args = ["repo", "build", "--dest", str(dest), "--tarball", str(tmp_path / "r.tgz"), "--force"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert calls == [("build", (dest, None, True)), ("tar", tmp_path / "r.tgz")]
    assert "apt: resolving" in result.output
    keyring = "/etc/apt/keyrings/pigsalt-archive-keyring.gpg"
    assert (
        f"deb [signed-by={keyring}] http://repo.pigsty/apt/bookworm/ ./  ({dest / 'apt' / 'bookworm'})" in result.output
    )
    assert f"deb [signed-by={keyring}] http://repo.pigsty/apt/trixie/ ./  ({dest / 'apt' / 'trixie'})" in result.output
    assert f"pip install --no-index --find-links {dest / 'pypi'} ...  (Python 3.11, 3.13)" in result.output


def test_build_passes_the_releases_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    def fake_build(dest: Path, releases: object, progress: object, force: bool) -> RepoInfo:
        asked.append(releases)
        return info(dest)

    monkeypatch.setattr(repo_cli, "build_repo", fake_build)
    result = CliRunner().invoke(main, ["repo", "build", "--release", "trixie", "--release", "bookworm"])
    assert result.exit_code == 0, result.output
    assert asked == [("trixie", "bookworm")]


def test_build_errors_are_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: object) -> RepoInfo:
        raise PigsaltError("apt-get update failed (exit 100): E: no network")

    monkeypatch.setattr(repo_cli, "build_repo", failing)
    result = CliRunner().invoke(main, ["repo", "build"])
    assert result.exit_code == 2
    assert result.output == "Error: apt-get update failed (exit 100): E: no network\n"


def test_status_of_a_missing_repository_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["repo", "status", "--dest", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.output == f"no repository at {tmp_path / 'none'}: run `pigsalt repo build`\n"


def test_status_shows_each_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = {
        "built_at": "2025-05-20T12:00:00Z",
        "build_seconds": 97.5,
        "built": ["trixie"],
        "pigsalt_version": "0.1.0",
        "architecture": "amd64",
        "salt_version": "3008.3",
        "releases": {
            "bookworm": {"python_version": "3.11.2", "apt": {"count": 456, "bytes": 320_000_000}},
            "trixie": {"python_version": "3.13.5", "apt": {"count": 431, "bytes": 300_000_000}},
        },
        "pypi": {"count": 120, "bytes": 69_000_000},
    }
    current = {"bookworm": "b" * 64, "trixie": "0" * 64}
    state = RepoStatus(path=tmp_path, info=info(tmp_path), manifest=manifest, current_hashes=current, signature_ok=True)
    monkeypatch.setattr(repo_cli, "repo_status", lambda dest: state)
    result = CliRunner().invoke(main, ["repo", "status"])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"repository: {tmp_path}",
        "built:      2025-05-20T12:00:00Z in 97.5 s (pigsalt 0.1.0, amd64; built then: trixie)",
        "bookworm:   456 debs, 320 MB (1 requested + dependencies), Python 3.11.2, recipe bbbbbbbbbbbbbbbb (current)",
        "trixie:     431 debs, 300 MB (2 requested + dependencies), Python 3.13.5, recipe ffffffffffffffff "
        "(stale: the recipe changed)",
        "pypi:       120 wheels, 69 MB (salt 3008.3)",
        "signature:  valid (key ABCD)",
        "total:      365 MB",
    ]
    fresh = RepoStatus(path=tmp_path, info=info(tmp_path), manifest=manifest, current_hashes=None, signature_ok=True)
    monkeypatch.setattr(repo_cli, "repo_status", lambda dest: fresh)
    result = CliRunner().invoke(main, ["repo", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"up_to_date": true' in result.output
    assert '"current_recipe_hashes": null' in result.output
