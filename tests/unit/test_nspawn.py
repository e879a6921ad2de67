"""One command in a root with systemd-nspawn: the argv, and the cgroup made for the run.

No root and no nspawn: the cgroup hierarchies are directories below tmp_path and the process is a fake.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.nspawn import nspawn_argv, run_in_root
from pigsalt.sandbox import system


def test_one_command_offline_with_binds_and_env() -> None:
    argv = nspawn_argv(
        Path("/cache/builders/trixie-x"),
        ["python3", "-V"],
        machine="pigsalt-repo-trixie",
        binds=[(Path("/w"), "/build")],
        binds_ro=[(Path("/r/pypi"), "/pypi")],
        env={"LC_ALL": "C.UTF-8"},
    )
    assert argv == [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--machine=pigsalt-repo-trixie",
        "--directory",
        "/cache/builders/trixie-x",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--private-network",
        "--pipe",
        "--setenv=LC_ALL=C.UTF-8",
        "--bind=/w:/build",
        "--bind-ro=/r/pypi:/pypi",
        "--",
        "python3",
        "-V",
    ]


def test_without_binds_or_env_the_command_follows_the_options() -> None:
    argv = nspawn_argv(Path("/r"), ["true"], machine="m")
    assert argv[-3:] == ["--pipe", "--", "true"]


class FakeNspawn:
    """subprocess.run for nspawn: notes the cgroup directories that exist while it runs."""

    def __init__(self, cgroups: Path, proc: subprocess.CompletedProcess[str] | None = None) -> None:
        self.cgroups = cgroups
        self.proc = proc or subprocess.CompletedProcess([], 0, "Python 3.13.5\n", "")
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.present: list[str] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        self.present = sorted(str(p.relative_to(self.cgroups)) for p in self.cgroups.rglob("*") if p.is_dir())
        return self.proc


@pytest.fixture
def cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for hierarchy in ("systemd", "unified"):
        (tmp_path / hierarchy).mkdir()
    monkeypatch.setattr(system, "CGROUP_ROOT", tmp_path)
    return tmp_path


def test_the_run_has_a_cgroup_of_its_own_removed_after(cgroups: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNspawn(cgroups)
    monkeypatch.setattr(subprocess, "run", fake)
    proc = run_in_root(
        Path("/r"),
        ["python3", "-V"],
        machine="pigsalt-repo-trixie",
        what="python3 (builder)",
        cgroup="trixie-42",
        cgroup_top="pigsalt-repo",
        timeout=60,
    )
    assert proc is fake.proc
    argv, kwargs = fake.calls[0]
    assert argv == nspawn_argv(Path("/r"), ["python3", "-V"], machine="pigsalt-repo-trixie")
    assert kwargs["stdin"] == subprocess.DEVNULL and kwargs["timeout"] == 60 and kwargs["check"] is False
    assert callable(kwargs["preexec_fn"])
    assert fake.present == [
        "systemd",
        "systemd/pigsalt-repo",
        "systemd/pigsalt-repo/trixie-42",
        "unified",
        "unified/pigsalt-repo",
        "unified/pigsalt-repo/trixie-42",
    ]
    # The run's group is gone; the top stays (another build may be making its group in it).
    assert sorted(str(p.relative_to(cgroups)) for p in cgroups.rglob("*")) == [
        "systemd",
        "systemd/pigsalt-repo",
        "unified",
        "unified/pigsalt-repo",
    ]


def test_a_failure_is_one_line_and_the_cgroup_still_goes(cgroups: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = subprocess.CompletedProcess([], 1, "", "Collecting salt\nERROR: No matching distribution\n\n")
    monkeypatch.setattr(subprocess, "run", FakeNspawn(cgroups, failed))
    with pytest.raises(PigsaltError) as err:
        run_in_root(Path("/r"), ["pip"], machine="m", what="pip (builder)", cgroup="g", cgroup_top="t")
    assert err.value.message == "pip (builder) failed (exit 1): ERROR: No matching distribution"
    assert not (cgroups / "systemd/t/g").exists()

    proc = run_in_root(Path("/r"), ["pip"], machine="m", what="pip", cgroup="g", cgroup_top="t", check=False)
    assert proc.returncode == 1

    def too_slow(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", too_slow)
    with pytest.raises(PigsaltError, match=r"^pip: gave up after 5 s$"):
        run_in_root(Path("/r"), ["pip"], machine="m", what="pip", cgroup="g", cgroup_top="t", timeout=5)
    assert not (cgroups / "systemd/t/g").exists()


def test_removing_cgroups_needs_a_top(cgroups: Path) -> None:
    (cgroups / "systemd/other").mkdir()
    with pytest.raises(ValueError, match="needs a top cgroup"):
        system.remove_cgroups("", top="")
    assert (cgroups / "systemd/other").is_dir()
