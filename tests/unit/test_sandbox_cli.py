"""`pigsalt sandbox` commands without a sandbox: progress lines, errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import pigsalt.sandbox as sb
from pigsalt.cli import main
from pigsalt.sandbox import DEFAULT_LAYOUT, Layout, UpResult, system


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A project tree and the default inventory in a temporary directory; root assumed."""
    for name in ("salt", "pillar", "_modules", "_states"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(system.os, "geteuid", lambda: 0)
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    return ["--project", str(tmp_path)]


def test_up_prints_steps_with_elapsed_time(monkeypatch: pytest.MonkeyPatch, project: list[str]) -> None:
    def fake_up(layout: Layout, **kwargs: object) -> UpResult:
        assert layout == DEFAULT_LAYOUT  # the default inventory's nodes
        assert kwargs["inventory_dir"] == Path(project[1]) / "pillar" / "inventory"
        assert (Path(project[1]) / "pillar" / "inventory" / "clusters" / "pg-test.yml").is_file()
        progress = kwargs["progress"]
        assert callable(progress)
        progress("booting 4 nodes")
        return UpResult(DEFAULT_LAYOUT, "pigsalt.repo", signed=True, accepted=DEFAULT_LAYOUT.names)

    monkeypatch.setattr(sb, "up", fake_up)
    result = CliRunner().invoke(main, ["sandbox", "up", *project])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("[") and lines[0].endswith("s] booting 4 nodes")
    assert lines[1].startswith("sandbox up in ")
    assert lines[1].endswith(": meta 10.10.10.10, node-1 10.10.10.11, node-2 10.10.10.12, node-3 10.10.10.13")


def test_up_says_when_the_repository_is_unsigned(monkeypatch: pytest.MonkeyPatch, project: list[str]) -> None:
    monkeypatch.setattr(
        sb, "up", lambda *_, **__: UpResult(DEFAULT_LAYOUT, "sandbox fallback", signed=False, accepted=())
    )
    result = CliRunner().invoke(main, ["sandbox", "up", *project])
    assert result.exit_code == 0
    assert "note: the nodes trust the APT repository without a signature (sandbox fallback)" in result.output


def test_not_root_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system.os, "geteuid", lambda: 1000)
    for command in (["up"], ["down"], ["cut", "node-1"], ["heal", "node-1"]):
        result = CliRunner().invoke(main, ["sandbox", *command])
        assert (result.exit_code, result.output) == (
            2,
            "Error: the sandbox needs root (it creates a bridge, mounts and containers)\n",
        ), command


def test_down_that_leaves_something_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb, "down", lambda **_: ["cgroup /sys/fs/cgroup/memory/pigsalt-sandbox/meta"])
    result = CliRunner().invoke(main, ["sandbox", "down"])
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: sandbox not fully removed: cgroup /sys/fs/cgroup/memory/pigsalt-sandbox/meta\n"
    )


def test_missing_tools_name_their_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system.shutil, "which", lambda tool, path=None: None)
    with pytest.raises(system.PigsaltError) as err:
        system.require_tools(["systemd-nspawn", "mmdebstrap"])
    assert err.value.message == (
        "missing tools: systemd-nspawn (apt-get install systemd-container), mmdebstrap (apt-get install mmdebstrap)"
    )
