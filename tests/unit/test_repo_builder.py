"""Each release's wheels: the lock's files fetched by hash, its sdists compiled offline in a root of the release.

pip (on the host), the index and the builder root (systemd-nspawn) are replaced by fakes that
answer as they did on the build machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pigsalt.debian import AptSource
from pigsalt.errors import PigsaltError
from pigsalt.repo import builder
from pigsalt.repo.builder import BuilderRoot, ReleaseWheels
from pigsalt.repo.recipe import load_recipe
from pigsalt.wheellock import LockedFile, PythonLock


def done(returncode: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["x"], returncode, "", stderr)


def test_the_builder_runs_offline_with_its_binds_in_a_repo_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, list[str], dict[str, Any]]] = []

    def fake_run_in_root(root: Path, command: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((root, list(command), kwargs))
        return done()

    monkeypatch.setattr(builder, "run_in_root", fake_run_in_root)
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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def locked(name: str, version: str, file: str) -> LockedFile:
    url = "" if file.endswith(".whl") else f"https://files.example/{file}"
    return LockedFile(name, version, file, sha(file.encode()), url=url)


PSYCOPG = locked("psycopg-binary", "3.3.9", "psycopg_binary-3.3.9-cp313-cp313-manylinux2014_x86_64.whl")
CLICK = locked("click", "8.5.1", "click-8.5.1-py3-none-any.whl")
SALT = locked("salt", "3008.3", "salt-3008.3.tar.gz")
TIMELIB = locked("timelib", "0.3.0", "timelib-0.3.0.tar.gz")
CYTHON = locked("cython", "3.3.2", "cython-3.3.2-cp313-cp313-manylinux2014_x86_64.whl")
SETUPTOOLS = locked("setuptools", "84.2.1", "setuptools-84.2.1-py3-none-any.whl")
PART = PythonLock("3.13", "manylinux_2_41_x86_64", (CLICK, PSYCOPG, SALT, TIMELIB), (CYTHON, SETUPTOOLS))


class FakeHost:
    """The host's pip: ``download`` writes each asked file with the content its hash is of."""

    def __init__(self) -> None:
        self.downloads: list[list[str]] = []

    def download(
        self, files: Sequence[LockedFile], part: PythonLock, index_url: str, dest: Path, label: str
    ) -> list[Path]:
        assert index_url == "https://pypi.org/simple" and part.python == "3.13"
        self.downloads.append(sorted(f.file for f in files))
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            (dest / f.file).write_bytes(f.file.encode())
        return [dest / f.file for f in files]


class FakeIndex:
    """The index: serves each sdist's bytes (its file name, unless ``tampered``)."""

    url = "https://pypi.org/simple"

    def __init__(self, tampered: bool = False) -> None:
        self.fetched: list[str] = []
        self.tampered = tampered

    def fetch(self, url: str, dest: Path, sha256: str) -> Path:
        self.fetched.append(url)
        data = b"evil" if self.tampered else url.rsplit("/", 1)[1].encode()
        if sha(data) != sha256:
            raise PigsaltError(f"{url}: SHA-256 {sha(data)}, the lock says {sha256}")
        dest.write_bytes(data)
        return dest


class FakeRoot:
    """The builder root: ``pip wheel`` compiles each sdist of /build/sdists.txt found in /build/links."""

    def __init__(self, work: Path, returncode: int = 0) -> None:
        self.work = work
        self.path = Path("/cache/builders/trixie-x")
        self.commands: list[list[str]] = []
        self.returncode = returncode

    def run(
        self, command: Sequence[str], *, what: str, check: bool = True, **binds: Any
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        if "wheel" not in command:
            return done()
        if self.returncode:
            return done(self.returncode, "ERROR: Could not find a version that satisfies the requirement Cython>=3\n")
        (self.work / "out").mkdir(exist_ok=True)
        for line in (self.work / "sdists.txt").read_text().splitlines():
            name, version = line.split(" ")[0].split("==")
            assert (self.work / "links" / f"{name}-{version}.tar.gz").is_file()
            tag = "py3-none-any" if name == "salt" else "cp313-cp313-linux_x86_64"
            (self.work / "out" / f"{name}-{version}-{tag}.whl").write_text("built")
        return done()


def release_wheels(tmp_path: Path, root: FakeRoot, index: FakeIndex, host: FakeHost | None = None) -> ReleaseWheels:
    return ReleaseWheels(
        load_recipe().release("trixie"),
        PART,
        index=index,  # type: ignore[arg-type]
        requirements=["salt==3008.3", "patroni[etcd3]>=4,<5"],
        host=host or FakeHost(),  # type: ignore[arg-type]
        root=root,  # type: ignore[arg-type]
        work=tmp_path / "work",
        sdist_cache=tmp_path / "sdists",
    )


def test_the_locked_wheels_are_fetched_and_the_sdists_compiled_offline_in_the_root(tmp_path: Path) -> None:
    host, index, root = FakeHost(), FakeIndex(), FakeRoot(tmp_path / "work")
    names = release_wheels(tmp_path, root, index, host).build({}, tmp_path / "out")

    # The wheels (and what compiling needs) through the host's pip, by hash; the sdists over HTTPS.
    assert host.downloads == [sorted([CLICK.file, PSYCOPG.file, CYTHON.file, SETUPTOOLS.file])]
    assert index.fetched == [SALT.url, TIMELIB.url]
    # In the root: a venv, then pip wheel from the fetched files alone, each sdist checked by hash.
    assert root.commands[0] == ["python3", "-m", "venv", "/build/venv"]
    assert root.commands[1] == [
        *("/build/venv/bin/python", "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--use-pep517"),
        *("--no-index", "--no-deps", "--require-hashes", "--find-links", "/build/links"),
        *("--wheel-dir", "/build/out", "--requirement", "/build/sdists.txt"),
    ]
    assert (tmp_path / "work" / "sdists.txt").read_text() == (
        f"salt==3008.3 --hash=sha256:{SALT.sha256}\ntimelib==0.3.0 --hash=sha256:{TIMELIB.sha256}\n"
    )
    # The wheelhouse part: the locked wheels and the compiled ones; no sdist, no build requirement.
    assert names == [
        CLICK.file,
        PSYCOPG.file,
        "salt-3008.3-py3-none-any.whl",
        "timelib-0.3.0-cp313-cp313-linux_x86_64.whl",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names


def test_a_pure_wheel_compiled_for_another_release_serves_as_it_is(tmp_path: Path) -> None:
    shared = {
        "salt-3008.3-py3-none-any.whl": tmp_path / "salt-3008.3-py3-none-any.whl",
        "timelib-0.3.0-cp311-cp311-linux_x86_64.whl": tmp_path / "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    }
    for path in shared.values():
        path.write_text("from bookworm")
    index, root = FakeIndex(), FakeRoot(tmp_path / "work")
    wheels = release_wheels(tmp_path, root, index)
    compile_, reused = wheels.to_compile(shared)
    assert [f.file for f in compile_] == [TIMELIB.file]  # a cp311 wheel does not serve 3.13
    assert reused == {"salt-3008.3-py3-none-any.whl": shared["salt-3008.3-py3-none-any.whl"]}
    names = wheels.build(shared, tmp_path / "out")
    assert index.fetched == [TIMELIB.url]
    assert (tmp_path / "work" / "sdists.txt").read_text().startswith("timelib==0.3.0 ")
    assert (tmp_path / "out" / "salt-3008.3-py3-none-any.whl").read_text() == "from bookworm"
    assert "timelib-0.3.0-cp313-cp313-linux_x86_64.whl" in names


def test_nothing_to_compile_fetches_no_build_requirement(tmp_path: Path) -> None:
    host = FakeHost()
    wheels = release_wheels(tmp_path, FakeRoot(tmp_path / "work"), FakeIndex(), host)
    wheels.locked = PythonLock("3.13", PART.platform, (CLICK, PSYCOPG), PART.build)
    assert wheels.build({}, tmp_path / "out") == [CLICK.file, PSYCOPG.file]
    assert host.downloads == [[CLICK.file, PSYCOPG.file]]


def test_an_sdist_is_downloaded_once_and_checked_against_the_lock(tmp_path: Path) -> None:
    index = FakeIndex()
    wheels = release_wheels(tmp_path, FakeRoot(tmp_path / "work"), index)
    wheels.build({}, tmp_path / "out")
    wheels.build({}, tmp_path / "out")
    assert index.fetched == [SALT.url, TIMELIB.url]  # the second build takes them from the cache
    (tmp_path / "sdists" / SALT.file).write_bytes(b"changed in the cache")
    wheels.build({}, tmp_path / "out")
    assert index.fetched == [SALT.url, TIMELIB.url, SALT.url]

    tampered = release_wheels(tmp_path / "other", FakeRoot(tmp_path / "other" / "work"), FakeIndex(tampered=True))
    with pytest.raises(PigsaltError, match=rf"^{re.escape(SALT.url)}: SHA-256 {sha(b'evil')}, the lock says"):
        tampered.build({}, tmp_path / "other" / "out")


def test_a_failed_compile_is_one_line_with_what_to_do(tmp_path: Path) -> None:
    wheels = release_wheels(tmp_path, FakeRoot(tmp_path / "work", returncode=1), FakeIndex())
    with pytest.raises(PigsaltError) as err:
        wheels.build({}, tmp_path / "out")
    assert err.value.message == (
        "pip wheel for Python 3.13 (trixie) failed: "
        "ERROR: Could not find a version that satisfies the requirement Cython>=3 "
        "(a build requirement missing from the lock goes into pypi.build_requirements, then `pigsalt repo lock`)"
    )


def test_the_finished_wheelhouse_is_checked_on_the_releases_python(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path / "work")
    wheels = release_wheels(tmp_path, root, FakeIndex())
    wheels.check(tmp_path / "pypi")
    assert root.commands[-1] == [
        *("/build/venv/bin/python", "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-cache-dir"),
        *("--quiet", "--no-index", "--find-links", "/pypi", "salt==3008.3", "patroni[etcd3]>=4,<5", "pigsalt"),
    ]
