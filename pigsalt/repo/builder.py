"""Wheels for each release's Python, finished in a root of that release, offline.

Every file comes from the wheel lock (``pigsalt.wheellock``), fetched on the host by its hash:
the binary wheels by the host's pip (``WheelBuilder.download``: ``--only-binary=:all:
--require-hashes --no-deps`` with that Python's tags), the sdists (what the index has no wheel
for: salt, timelib...) by an HTTPS download checked against their locked SHA-256. No sdist is
handed to the host's pip, which would run its build code, as root, to read its metadata. Then,
in a minbase root of the release (``mmdebstrap``, cached; ``systemd-nspawn`` with no network):

1. ``pip wheel --no-index --no-deps --require-hashes`` compiles each sdist from the locked files
   alone (its build requirements are the lock's ``build`` files: Cython, setuptools, wheel and
   what salt's pyproject.toml names);
2. ``pip install --dry-run --no-index`` checks that the finished wheelhouse installs the
   requirements and pigsalt on the release's own Python.

A pure wheel compiled from an sdist for one release (salt's) serves the others as it is: it is
compiled once per repository, so the wheelhouse never holds two different files of one name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.nspawn import run_in_root
from pigsalt.repo._util import Progress, file_digest, last_line, run, say
from pigsalt.repo.apt import link_or_copy
from pigsalt.repo.index import PackageIndex
from pigsalt.repo.pypi import WheelBuilder, check_dry_run, serves, verified, wheel_project, wheel_version
from pigsalt.repo.recipe import ReleaseRecipe
from pigsalt.wheellock import LockedFile, PythonLock

_VENV_PIP = ("/build/venv/bin/python", "-m", "pip")
_BUILD_ENV = {"LC_ALL": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
# The builder runs' cgroups: not below the sandbox's, which `pigsalt sandbox down` empties and
# `pigsalt sandbox status` reports as left behind.
CGROUP_TOP = "pigsalt-repo"


class BuilderRoot:
    """A minbase root of one release with its Python and a compiler, kept in the cache.

    Commands run in it with ``systemd-nspawn`` and no network; it is made once per recipe
    (its key covers the release, the packages and the archives) and replaced when that changes.
    """

    def __init__(self, cache_dir: Path, release: ReleaseRecipe, packages: Sequence[str]) -> None:
        self.release = release
        self.packages = tuple(packages)
        self.mirrors = tuple(line for src in release.effective_sources() for line in src.lines(release.keyring))
        identity = json.dumps([release.codename, self.packages, self.mirrors], separators=(",", ":"))
        key = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]
        self.parent = cache_dir / "builders"
        self.path = self.parent / f"{release.codename}-{key}"

    def ensure(self, progress: Progress | None = None) -> Path:
        """Create the root unless the cache has it; only the current one is kept."""
        if not (self.path / "etc" / "os-release").exists():
            self.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.parent / f".{self.path.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            say(progress, f"builder: making a {self.release.codename} root ({', '.join(self.packages)}), once")
            argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "--aptopt=Acquire::Retries=3"]
            argv += ["--include=" + ",".join(self.packages), self.release.codename, str(tmp), *self.mirrors]
            try:
                run(argv, what=f"mmdebstrap ({self.release.codename} builder)", timeout=1800)
                shutil.rmtree(self.path, ignore_errors=True)
                tmp.rename(self.path)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            say(progress, f"builder: the {self.release.codename} root is ready")
        for old in self.parent.glob(f"{self.release.codename}-*"):
            if old != self.path:
                shutil.rmtree(old, ignore_errors=True)
        return self.path

    def run(
        self,
        command: Sequence[str],
        *,
        what: str,
        binds: Sequence[tuple[Path, str]] = (),
        binds_ro: Sequence[tuple[Path, str]] = (),
        check: bool = True,
        timeout: float = 3600,
    ) -> subprocess.CompletedProcess[str]:
        return run_in_root(
            self.path,
            command,
            machine=f"pigsalt-repo-{self.release.codename}",
            what=what,
            # With the process in its name, a build for another repository running meanwhile
            # has a cgroup of its own too.
            cgroup=f"{self.release.codename}-{os.getpid()}",
            cgroup_top=CGROUP_TOP,
            binds=binds,
            binds_ro=binds_ro,
            env=_BUILD_ENV,
            check=check,
            timeout=timeout,
        )


class ReleaseWheels:
    """The wheelhouse's part for ``release``'s Python: the lock's files, its sdists compiled in ``root``."""

    def __init__(
        self,
        release: ReleaseRecipe,
        locked: PythonLock,
        *,
        index: PackageIndex,
        requirements: Sequence[str],
        host: WheelBuilder,
        root: BuilderRoot,
        work: Path,
        sdist_cache: Path,
        progress: Progress | None = None,
    ) -> None:
        self.release = release
        self.locked = locked
        self.index = index
        self.requirements = [*requirements, "pigsalt"]  # what the finished wheelhouse must install
        self.host = host
        self.root = root
        self.work = work  # bound at /build in the root: links/ (the fetched files), out/ (what it compiled)
        self.sdist_cache = sdist_cache
        self.progress = progress
        self.label = f"Python {release.python_version} ({release.codename})"

    def to_compile(self, shared: Mapping[str, Path]) -> tuple[list[LockedFile], dict[str, Path]]:
        """The locked sdists that must be compiled for this Python, and the wheels of ``shared``
        (file name → path: compiled for another release, or kept in the repository) that serve
        it instead, one per sdist."""
        compile_: list[LockedFile] = []
        reused: dict[str, Path] = {}
        for locked in self.locked.install:
            if locked.is_wheel:
                continue
            found = next((name for name in sorted(shared) if self._made_from(name, locked)), None)
            if found is None:
                compile_.append(locked)
            else:
                reused[found] = shared[found]
        return compile_, reused

    def build(self, shared: Mapping[str, Path], out_dir: Path) -> list[str]:
        """The wheels of the release's Python (file names, linked into ``out_dir``); the root's venv
        is left for ``check``."""
        shutil.rmtree(self.work, ignore_errors=True)
        links, built = self.work / "links", self.work / "out"
        links.mkdir(parents=True)
        compile_, reused = self.to_compile(shared)
        wheels = [f for f in self.locked.install if f.is_wheel]
        needed = {f.file: f for f in [*wheels, *(self.locked.build if compile_ else ())] if f.is_wheel}
        say(
            self.progress,
            f"pypi: fetching {len(wheels)} locked wheels for {self.label}"
            + (f"; compiling {', '.join(f.file for f in compile_)} offline" if compile_ else ""),
        )
        self.host.download(list(needed.values()), self.locked, self.index.url, links, self.label)
        for locked in compile_:
            self.fetch_sdist(locked, links)
        self.root.run(["python3", "-m", "venv", "/build/venv"], what="python3 -m venv (builder)", binds=self._binds())
        paths = {f.file: links / f.file for f in wheels} | reused
        if compile_:
            paths |= {name: built / name for name in self.compile(compile_, built)}
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, path in paths.items():
            link_or_copy(path, out_dir / name)
        return sorted(paths)

    def fetch_sdist(self, locked: LockedFile, links: Path) -> Path:
        """``locked``'s sdist into ``links``, from the cache when it holds the file with its hash."""
        cached = self.sdist_cache / locked.file
        if not cached.is_file() or file_digest(cached) != locked.sha256:
            self.sdist_cache.mkdir(parents=True, exist_ok=True)
            say(self.progress, f"pypi: downloading {locked.file}")
            self.index.fetch(locked.url, cached, locked.sha256)
        link_or_copy(cached, links / locked.file)
        return verified(links / locked.file, locked)

    def compile(self, sdists: Sequence[LockedFile], built: Path) -> list[str]:
        """Wheels of ``sdists`` for the release's Python, compiled in the root from the fetched files alone."""
        pins = self.work / "sdists.txt"
        pins.write_text("".join(f"{f.pin()}\n" for f in sdists), encoding="utf-8")
        say(self.progress, f"pypi: compiling for {self.label} offline, in the {self.root.path.name} root")
        args = [*_VENV_PIP, "wheel", "--quiet", "--no-cache-dir", "--use-pep517", "--no-index", "--no-deps"]
        args += ["--require-hashes", "--find-links", "/build/links", "--wheel-dir", "/build/out"]
        args += ["--requirement", "/build/sdists.txt"]
        proc = self.root.run(args, what="pip wheel (builder)", binds=self._binds(), check=False)
        if proc.returncode != 0:
            why = last_line(proc.stderr or proc.stdout)
            raise PigsaltError(
                f"pip wheel for {self.label} failed: {why} (a build requirement missing from the lock goes "
                "into pypi.build_requirements, then `pigsalt repo lock`)"
            )
        names = sorted(w.name for w in built.glob("*.whl"))
        for locked in sdists:
            if not any(self._made_from(name, locked) for name in names):
                raise PigsaltError(f"pip wheel for {self.label} made no wheel of {locked.file}")
        return names

    def check(self, wheelhouse: Path) -> None:
        """The finished ``wheelhouse`` alone installs the requirements on the release's Python."""
        args = [*_VENV_PIP, "install", "--dry-run", "--ignore-installed", "--no-cache-dir", "--quiet", "--no-index"]
        args += ["--find-links", "/pypi", *self.requirements]
        binds_ro = [(wheelhouse, "/pypi")]
        proc = self.root.run(args, what="pip (builder)", binds=self._binds(), binds_ro=binds_ro, check=False)
        check_dry_run(proc, self.label)

    def python_version(self) -> str:
        """The full version of the root's Python; an error when it is not the release's."""
        code = "import platform; print(platform.python_version())"
        version = self.root.run(["python3", "-c", code], what="python3 (builder)").stdout.strip()
        if version.rsplit(".", 1)[0] != self.release.python_version:
            raise PigsaltError(f"the {self.release.codename} builder root runs Python {version}, not {self.label}")
        return version

    def _made_from(self, wheel: str, locked: LockedFile) -> bool:
        """Whether ``wheel`` is ``locked``'s distribution, at its version, installable on this Python."""
        return (
            wheel_project(wheel) == locked.name
            and wheel_version(wheel) == locked.version
            and serves(wheel, self.release.python_version)
        )

    def _binds(self) -> list[tuple[Path, str]]:
        return [(self.work, "/build")]
