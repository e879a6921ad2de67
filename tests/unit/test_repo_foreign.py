"""Wheels for another release's Python: the download options, the sdist fallback and the offline retry loop.

pip (on the host) and the builder root (systemd-nspawn) are replaced by fakes that answer as
they did on the build machine.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pigsalt.debian import AptSource
from pigsalt.errors import PigsaltError
from pigsalt.repo import foreign
from pigsalt.repo.foreign import (
    BuilderRoot,
    ForeignBuild,
    binary_download_args,
    manylinux_platforms,
    spec_project,
)
from pigsalt.repo.recipe import load_recipe


def done(returncode: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["x"], returncode, "", stderr)


def test_platforms_go_from_the_release_glibc_down_with_the_old_aliases() -> None:
    tags = manylinux_platforms((2, 41), "x86_64")
    assert tags[0] == "manylinux_2_41_x86_64"
    assert tags[-2:] == ("manylinux_2_5_x86_64", "manylinux1_x86_64")
    assert "manylinux2014_x86_64" in tags and "manylinux2010_x86_64" in tags
    assert "manylinux_2_34_x86_64" in tags
    assert "manylinux_2_39_x86_64" not in manylinux_platforms((2, 36), "x86_64")


def test_binary_downloads_ask_for_that_python_its_abi_abi3_and_pure() -> None:
    assert binary_download_args("3.13", ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]) == [
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--abi",
        "cp313",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
    ]


@pytest.mark.parametrize(
    ("spec", "project"),
    [("timelib==0.3.0", "timelib"), ("Cython", "cython"), ("jaraco.text<5", "jaraco-text"), ("a[b]>=1", "a")],
)
def test_a_spec_names_its_project(spec: str, project: str) -> None:
    assert spec_project(spec) == project


def test_the_builder_runs_offline_with_its_binds_in_a_repo_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, list[str], dict[str, Any]]] = []

    def fake_run_in_root(root: Path, command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((root, list(command), kwargs))
        return done()

    monkeypatch.setattr(foreign, "run_in_root", fake_run_in_root)
    root = BuilderRoot(tmp_path, load_recipe().release("trixie"), ["python3"])
    binds, binds_ro = [(Path("/w"), "/build")], [(Path("/r/pypi"), "/pypi")]
    root.run(["python3", "-V"], what="python3 (builder)", binds=binds, binds_ro=binds_ro, check=False, timeout=60)
    assert calls == [
        (
            root.path,
            ["python3", "-V"],
            {
                "machine": "pigsalt-repo-trixie",
                "what": "python3 (builder)",
                # Not below the sandbox's cgroup, and each process its own.
                "cgroup": f"trixie-{os.getpid()}",
                "cgroup_top": "pigsalt-repo",
                "binds": binds,
                "binds_ro": binds_ro,
                "env": {"LC_ALL": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"},
                "check": False,
                "timeout": 60,
            },
        )
    ]


def test_the_builder_root_is_keyed_by_what_makes_it(tmp_path: Path) -> None:
    mirror = (AptSource("http://mirror.invalid/debian", ("trixie",)),)
    release = load_recipe().release("trixie")
    release = dataclasses.replace(release, sources=mirror)
    one = BuilderRoot(tmp_path, release, ["python3", "gcc"])
    assert one.path.parent == tmp_path / "builders"
    assert one.path.name.startswith("trixie-")
    assert one.mirrors == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.invalid/debian trixie main",
    )
    assert BuilderRoot(tmp_path, release, ["python3", "gcc"]).path == one.path
    assert BuilderRoot(tmp_path, release, ["python3", "gcc", "make"]).path != one.path


class FakeHost:
    """The host's pip: wheels exist for everything but ``no_wheel``; sdists for everything."""

    def __init__(self, no_wheel: set[str]) -> None:
        self.no_wheel = no_wheel
        self.calls: list[list[str]] = []

    def pip(self, args: Sequence[Any], what: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        args = [str(a) for a in args]
        self.calls.append(args)
        dest = Path(args[args.index("--dest") + 1])
        specs = [a for a in args[args.index("--dest") + 2 :] if not a.startswith("-") and "manylinux" not in a]
        specs = [s for s in specs if s not in ("3.13", "cp", "cp313", "abi3", "none")]
        sdist = any(a.startswith("--no-binary=") for a in args)
        for spec in specs:
            name, _, version = spec.partition("==")
            if not sdist and name in self.no_wheel:
                error = f"ERROR: Cannot install {spec} because these package versions have conflicting dependencies."
                return done(1, error)
        for spec in specs:
            name, _, version = spec.partition("==")
            suffix = ".tar.gz" if sdist else "-cp313-cp313-manylinux2014_x86_64.whl"
            (dest / f"{name}-{version or '9'}{suffix}").write_text("x")
        return done()


class FakeRoot:
    """The builder root: ``pip wheel`` succeeds once every distribution in ``needs`` is in the links."""

    def __init__(self, work: Path, needs: dict[str, str]) -> None:
        self.work = work
        self.needs = needs  # file name prefix → the requirement pip names when it is missing
        self.path = Path("/cache/builders/trixie-x")
        self.commands: list[list[str]] = []

    def run(
        self, command: Sequence[str], *, what: str, check: bool = True, **binds: Any
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        if "wheel" not in command:
            return done()
        links = [p.name for p in (self.work / "links").iterdir()]
        missing = [req for prefix, req in self.needs.items() if not any(n.startswith(prefix) for n in links)]
        if missing:
            return done(1, "".join(f"ERROR: No matching distribution found for {req}\n" for req in missing))
        (self.work / "out").mkdir(exist_ok=True)
        for name in links:
            if name.endswith(".whl"):
                (self.work / "out" / name).write_text("x")
        (self.work / "out" / "timelib-0.3.0-cp313-cp313-linux_x86_64.whl").write_text("x")
        return done()


def foreign_build(tmp_path: Path, host: FakeHost, root: FakeRoot, messages: list[str]) -> ForeignBuild:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("salt==3008.3\n")
    recipe = load_recipe()
    build = ForeignBuild(
        recipe,
        recipe.release("trixie"),
        host,  # type: ignore[arg-type]
        root,  # type: ignore[arg-type]
        constraints=constraints,
        work=tmp_path / "work",
        progress=messages.append,
    )
    return build


def make_base(tmp_path: Path) -> tuple[Path, list[str]]:
    base = tmp_path / "base"
    base.mkdir()
    names = [
        "salt-3008.3-py3-none-any.whl",
        "pigsalt-0.1.0-py3-none-any.whl",
        "pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.whl",
        "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    ]
    for name in names:
        (base / name).write_text("x")
    return base, names


def test_wheels_for_313_come_from_shared_ones_downloads_and_one_sdist(tmp_path: Path) -> None:
    host = FakeHost(no_wheel={"timelib"})
    root = FakeRoot(tmp_path / "work", needs={"timelib-0.3.0.tar": "timelib==0.3.0", "Cython-": "Cython>=3"})
    messages: list[str] = []
    build = foreign_build(tmp_path, host, root, messages)
    base, names = make_base(tmp_path)

    built = build.build(base, names, tmp_path / "out")

    # First all at once; timelib has no wheel: the rest again, then timelib's sdist alone.
    wanted = [
        [a for a in call if a in ("pyyaml==6.0.4", "timelib==0.3.0", "Cython", "setuptools", "wheel")]
        for call in host.calls
    ]
    assert wanted == [
        ["pyyaml==6.0.4", "timelib==0.3.0", "Cython", "setuptools", "wheel"],
        ["pyyaml==6.0.4", "Cython", "setuptools", "wheel"],
        ["timelib==0.3.0"],
    ]
    assert "--no-binary=timelib" in host.calls[2]
    links = sorted(p.name for p in (tmp_path / "work" / "links").iterdir())
    assert links == [
        "Cython-9-cp313-cp313-manylinux2014_x86_64.whl",
        "pigsalt-0.1.0-py3-none-any.whl",
        "pyyaml-6.0.4-cp313-cp313-manylinux2014_x86_64.whl",
        "salt-3008.3-py3-none-any.whl",
        "setuptools-9-cp313-cp313-manylinux2014_x86_64.whl",
        "timelib-0.3.0.tar.gz",
        "wheel-9-cp313-cp313-manylinux2014_x86_64.whl",
    ]
    assert "timelib-0.3.0-cp313-cp313-linux_x86_64.whl" in built
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == built
    # The offline build: a venv, then pip wheel with no index, the constraints and pigsalt by name.
    assert root.commands[0] == ["python3", "-m", "venv", "/build/venv"]
    wheel = root.commands[1]
    assert "--no-index" in wheel and wheel[-1] == "pigsalt"
    assert wheel[wheel.index("--constraint") + 1] == "/build/constraints.txt"
    assert messages[0] == (
        "pypi: 2 wheels serve Python 3.13 (trixie) as they are; fetching 2 for it, and what building one needs"
    )


def test_a_distribution_only_313_needs_is_fetched_and_the_resolve_retried(tmp_path: Path) -> None:
    host = FakeHost(no_wheel=set())
    root = FakeRoot(tmp_path / "work", needs={"legacy-cgi-": "legacy-cgi==2.6.3"})
    messages: list[str] = []
    build = foreign_build(tmp_path, host, root, messages)
    base, names = make_base(tmp_path)
    build.build(base, names, tmp_path / "out")
    assert len([c for c in root.commands if "wheel" in c]) == 2
    assert any("legacy-cgi==2.6.3" in call for call in host.calls)
    assert "pypi: Python 3.13 (trixie) also needs legacy-cgi==2.6.3: fetching" in messages


def test_the_retry_loop_gives_up_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class NeverThere(FakeRoot):
        def run(self, command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            self.commands.append(list(command))
            if "wheel" not in command:
                return done()
            return done(1, "ERROR: No matching distribution found for ghost==1\n")

    build = foreign_build(tmp_path, FakeHost(set()), NeverThere(tmp_path / "work", {}), [])
    base, names = make_base(tmp_path)
    with pytest.raises(PigsaltError) as err:
        build.build(base, names, tmp_path / "out")
    assert (
        err.value.message
        == "pip wheel for Python 3.13 (trixie) failed: ERROR: No matching distribution found for ghost==1"
    )

    # A resolve that keeps naming new distributions stops after MAX_ROUNDS.
    class Endless(FakeRoot):
        def run(self, command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            if "wheel" not in command:
                return done()
            self.commands.append(list(command))
            return done(1, f"ERROR: No matching distribution found for d{len(self.commands)}==1\n")

    monkeypatch.setattr(foreign, "MAX_ROUNDS", 3)
    build = foreign_build(tmp_path, FakeHost(set()), Endless(tmp_path / "work", {}), [])
    with pytest.raises(PigsaltError, match=r"pip wheel for Python 3.13 \(trixie\): still missing d1==1, d2==1, d3==1"):
        build.build(base, names, tmp_path / "out")


def test_a_download_that_fails_otherwise_is_one_line(tmp_path: Path) -> None:
    class Offline(FakeHost):
        def pip(self, args: Sequence[Any], what: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
            return done(1, "WARNING: Retrying...\nERROR: Could not install packages due to an OSError: no network\n")

    build = foreign_build(tmp_path, Offline(set()), FakeRoot(tmp_path / "work", {}), [])
    with pytest.raises(PigsaltError) as err:
        build.fetch(["pyyaml==6.0.4"])
    assert err.value.message == (
        "pip download (wheels for Python 3.13 (trixie)) failed: "
        "ERROR: Could not install packages due to an OSError: no network"
    )
