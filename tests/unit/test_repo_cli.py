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
        recipe_hash="f" * 64,
        packages=("jq", "libc6"),
        requested=("jq",),
        wheels=("salt-3008.3-py3-none-any.whl",),
        key_fingerprint="ABCD",
        built_at="2025-05-20T12:00:00Z",
        total_bytes=365_000_000,
    )


def test_build_builds_then_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []

    def fake_build(dest: Path, progress: object, force: bool) -> RepoInfo:
        calls.append(("build", (dest, force)))
        assert callable(progress)
        progress("apt: resolving")
        return info(dest)

    monkeypatch.setattr(repo_cli, "build_repo", fake_build)
    monkeypatch.setattr(repo_cli, "write_tarball", lambda path, tarball, progress: calls.append(("tar", tarball)))
    result = CliRunner().invoke(
        main, ["repo", "build", "--dest", str(tmp_path / "r"), "--tarball", str(tmp_path / "r.tgz"), "--force"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [("build", (tmp_path / "r", True)), ("tar", tmp_path / "r.tgz")]
    assert "apt: resolving" in result.output
    assert "deb [signed-by=/etc/apt/keyrings/pigsalt-archive-keyring.gpg] http://repo.pigsty/apt ./" in result.output
    assert f"pip install --no-index --find-links {tmp_path / 'r' / 'pypi'}" in result.output


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
    assert result.output == f"{tmp_path / 'none'}: no repository (run `pigsalt repo build`)\n"


def test_status_shows_what_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = {
        "built_at": "2025-05-20T12:00:00Z",
        "build_seconds": 97.5,
        "pigsalt_version": "0.1.0",
        "release": "bookworm",
        "architecture": "amd64",
        "python_version": "3.11.2",
        "salt_version": "3008.3",
        "apt": {"count": 456, "bytes": 320_000_000},
        "pypi": {"count": 100, "bytes": 49_000_000},
    }
    state = RepoStatus(path=tmp_path, info=info(tmp_path), manifest=manifest, current_hash="f" * 64, signature_ok=True)
    monkeypatch.setattr(repo_cli, "repo_status", lambda dest: state)
    result = CliRunner().invoke(main, ["repo", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"repository: {tmp_path}",
        "built:      2025-05-20T12:00:00Z in 97.5 s (pigsalt 0.1.0, Debian bookworm amd64, Python 3.11.2)",
        "recipe:     ffffffffffffffff (current)",
        "apt:        456 debs, 320 MB (1 requested + dependencies)",
        "pypi:       100 wheels, 49 MB (salt 3008.3)",
        "signature:  valid (key ABCD)",
        "total:      365 MB",
    ]
    stale = RepoStatus(path=tmp_path, info=info(tmp_path), manifest=manifest, current_hash="0" * 64, signature_ok=True)
    monkeypatch.setattr(repo_cli, "repo_status", lambda dest: stale)
    result = CliRunner().invoke(main, ["repo", "status", "--json"])
    assert result.exit_code == 1
    assert '"up_to_date": false' in result.output
