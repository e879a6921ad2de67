"""Wheels for a release whose Python is not the build machine's, built offline in a root of that release.

The build machine's pip cannot resolve for another Python (it refuses ``--python-version``
without ``--no-deps``), and the other release's Python is never asked to reach PyPI: the
builder root runs with no network at all, by design (on the project's build machine Python
3.13 could not anyway: it rejects the TLS proxy's CA). So the work is split:

1. the host, which resolved its own wheelhouse already, downloads for the other Python exactly
   the versions of the compiled wheels it chose (``--no-deps``; a wheel for that Python, or
   else the sdist), plus what compiling an sdist needs (Cython, setuptools, wheel);
2. a minbase root of the other release (``mmdebstrap``, cached) resolves and builds from those
   files and the shared pure wheels alone (``pip wheel --no-index``); a distribution that only
   the other Python's markers pull in is named by that resolve, downloaded on the host, and the
   resolve runs again (a bounded number of times);
3. the same root checks that the finished wheelhouse installs the requirements
   (``pip install --dry-run --no-index``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pigsalt.debian import GLIBC
from pigsalt.errors import PigsaltError
from pigsalt.nspawn import run_in_root
from pigsalt.repo._util import Progress, last_line, run, say
from pigsalt.repo.apt import link_or_copy
from pigsalt.repo.pypi import WheelBuilder, check_dry_run, missing_distributions, normalize, plan_downloads
from pigsalt.repo.recipe import Recipe, ReleaseRecipe

#: How many times the offline resolve may name distributions to fetch before the build gives up.
MAX_ROUNDS = 5

# The manylinux aliases older wheels carry, by the glibc minor they mean.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_VENV_PIP = ("/build/venv/bin/python", "-m", "pip")
_BUILD_ENV = {"LC_ALL": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
# The builder runs' cgroups: not below the sandbox's, which `pigsalt sandbox down` empties and
# `pigsalt sandbox status` reports as left behind.
CGROUP_TOP = "pigsalt-repo"


def manylinux_platforms(glibc: tuple[int, int], machine: str) -> tuple[str, ...]:
    """pip's ``--platform`` values for a system with ``glibc``, newest first."""
    tags: list[str] = []
    for minor in range(glibc[1], 4, -1):
        tags.append(f"manylinux_{glibc[0]}_{minor}_{machine}")
        if minor in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[minor]}_{machine}")
    return tuple(tags)


def binary_download_args(python_version: str, platforms: Sequence[str]) -> list[str]:
    """``pip download`` options that fetch wheels for CPython ``python_version`` on ``platforms``."""
    abi = "cp" + python_version.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    args += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        args += ["--platform", platform]
    return args


def spec_project(spec: str) -> str:
    """The normalized project of a requirement string (``timelib==0.3.0`` → ``timelib``)."""
    return normalize(re.split(r"[\s<>=!~\[;(]", spec.strip(), maxsplit=1)[0])


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


class ForeignBuild:
    """Wheels for ``release``'s Python, from the host's wheelhouse, finished in ``root``."""

    def __init__(
        self,
        recipe: Recipe,
        release: ReleaseRecipe,
        host: WheelBuilder,
        root: BuilderRoot,
        *,
        constraints: Path,
        work: Path,
        progress: Progress | None = None,
    ) -> None:
        self.recipe = recipe
        self.release = release
        self.host = host
        self.root = root
        self.constraints = constraints
        self.work = work
        # Fresh for each build, so that what a download added is what it fetched (pip's HTTP
        # cache, kept with the host builder's, saves fetching the same files again).
        self.downloads = work / "downloads"
        self.progress = progress
        self.label = f"Python {release.python_version} ({release.codename})"
        glibc = GLIBC.get(release.codename, (2, 17))
        self.binary_args = binary_download_args(release.python_version, manylinux_platforms(glibc, os.uname().machine))

    @property
    def requirements(self) -> list[str]:
        """What the wheelhouse must install: the recipe's requirements and pigsalt (its shared wheel)."""
        return [*self.recipe.requirements, "pigsalt"]

    def fetch(self, specs: Sequence[str]) -> list[Path]:
        """Download ``specs`` for the release's Python on the host: wheels, else sdists (no dependencies)."""
        self.downloads.mkdir(parents=True, exist_ok=True)
        before = set(self.downloads.iterdir())
        common: list[str | os.PathLike[str]] = ["download", "--no-deps", "--constraint", self.constraints]
        common += ["--dest", self.downloads]
        wanted: list[str] = list(specs)
        sdists: list[str] = []
        while wanted:
            proc = self.host.pip([*common, *self.binary_args, *wanted], "pip download", check=False)
            if proc.returncode == 0:
                break
            # pip stops at the first requirement without a wheel: that one comes as an sdist.
            missing = {spec_project(m) for m in missing_distributions(proc.stdout + proc.stderr)}
            without = [spec for spec in wanted if spec_project(spec) not in missing]
            if not missing or len(without) == len(wanted):
                raise PigsaltError(f"pip download (wheels for {self.label}) failed: {last_line(proc.stderr)}")
            sdists += [spec for spec in wanted if spec_project(spec) in missing]
            wanted = without
        if sdists:
            say(self.progress, f"pypi: no {self.label} wheel for {', '.join(sdists)}: its sdist is built")
            # Not :all:, which would compile the build's own dependencies (Cython) from source too.
            no_binary = "--no-binary=" + ",".join(spec_project(spec) for spec in sdists)
            self.host.pip([*common, no_binary, *sdists], f"pip download (sdists for {self.label})")
        return sorted(set(self.downloads.iterdir()) - before)

    def build(self, base: Path, base_wheels: Sequence[str], out_dir: Path) -> list[str]:
        """Wheels for the release's Python (file names in ``out_dir``), from the wheelhouse ``base``."""
        plan = plan_downloads(base_wheels, self.release.python_version)
        shutil.rmtree(self.work, ignore_errors=True)
        links, build_out = self.work / "links", self.work / "out"
        links.mkdir(parents=True)
        shutil.copy2(self.constraints, self.work / "constraints.txt")
        for name in plan.shared:
            link_or_copy(base / name, links / name)
        say(
            self.progress,
            f"pypi: {len(plan.shared)} wheels serve {self.label} as they are; "
            f"fetching {len(plan.fetch)} for it, and what building one needs",
        )
        self._link(self.fetch([*plan.fetch, *self.recipe.build_requirements]), links)
        self.root.run(["python3", "-m", "venv", "/build/venv"], what="python3 -m venv (builder)", binds=self._binds())
        say(self.progress, f"pypi: resolving and building for {self.label} offline, in the {self.root.path.name} root")
        asked: set[str] = set()
        for _ in range(MAX_ROUNDS):
            proc = self.root.run(self._pip_wheel(), what="pip wheel (builder)", binds=self._binds(), check=False)
            if proc.returncode == 0:
                break
            missing = [m for m in missing_distributions(proc.stdout + proc.stderr) if m not in asked]
            if not missing:
                raise PigsaltError(f"pip wheel for {self.label} failed: {last_line(proc.stderr or proc.stdout)}")
            say(self.progress, f"pypi: {self.label} also needs {', '.join(missing)}: fetching")
            asked.update(missing)
            self._link(self.fetch(missing), links)
        else:
            raise PigsaltError(f"pip wheel for {self.label}: still missing {', '.join(sorted(asked))}")
        out_dir.mkdir(parents=True, exist_ok=True)
        names = sorted(w.name for w in build_out.glob("*.whl"))
        for name in names:
            link_or_copy(build_out / name, out_dir / name)
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

    def _pip_wheel(self) -> list[str]:
        args = [*_VENV_PIP, "wheel", "--quiet", "--no-cache-dir", "--use-pep517", "--no-index"]
        args += ["--find-links", "/build/links", "--constraint", "/build/constraints.txt", "--wheel-dir", "/build/out"]
        return [*args, *self.requirements]

    def _binds(self) -> list[tuple[Path, str]]:
        return [(self.work, "/build")]

    @staticmethod
    def _link(files: Sequence[Path], links: Path) -> None:
        for path in files:
            link_or_copy(path, links / path.name)
