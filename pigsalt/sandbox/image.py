"""The node images: per Debian release, a base layer and a Salt layer, built once and cached.

A sandbox may mix releases (``SandboxNode.os``); each release a node runs gets its own pair.
Each layer lives in ``<root>/images/<kind>-<codename>-<hash>``, where the hash covers its
whole recipe (suite, packages, mirrors, Python, Salt version, the wheels, this script's
version), so a changed recipe builds a new layer and an unchanged one is reused; a release's
older layers are dropped, the other releases' stay. Nodes stack their release's pair with
overlayfs: ``lowerdir=<salt layer>:<base layer>``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

from pigsalt.debian import release, sources_for
from pigsalt.errors import PigsaltError
from pigsalt.nspawn import run_in_root
from pigsalt.sandbox.layout import Layout, SandboxPaths
from pigsalt.sandbox.system import (
    CGROUP_NAME,
    Progress,
    mounts_below,
    no_progress,
    remove_tree,
    require_tools,
    run,
    unmount,
)

# Bump when the build steps below change in a way the recipe does not show.
BUILD_VERSION = 4
SALT_VERSION = "3008.3"
SALT_VENV = "/opt/pigsalt/salt"
BASE_PACKAGES = (
    "dbus",
    "iproute2",
    "iputils-ping",
    "procps",
    "python3",
    "python3-venv",
    "systemd",
    "systemd-sysv",
)
# The Python interpreter of a node (its release's); the Salt venv is made with it. On the host
# it is Debian 12's, which builds the fallback wheels.
NODE_PYTHON = "/usr/bin/python3"
# The only suite the fallback package source (no pigsalt.repo) has: the host's own release.
FALLBACK_SUITE = "bookworm"
# Requirements of the fallback wheel directory: Salt plus what pigsalt itself needs.
FALLBACK_REQUIREMENTS = (f"salt=={SALT_VERSION}", "click", "pyyaml", "jinja2")
SALT_COMMANDS = ("salt", "salt-call", "salt-cp", "salt-key", "salt-master", "salt-minion", "salt-run")

MINION_UNIT = f"""\
[Unit]
Description=The Salt Minion (pigsalt)
After=network.target salt-master.service
ConditionPathExists=/etc/salt/minion.d/pigsalt.conf

[Service]
Type=notify
NotifyAccess=all
KillMode=process
LimitNOFILE=8192
# A minion otherwise takes ~9 s to stop, which dominates a node's shutdown.
TimeoutStopSec=3
ExecStart={SALT_VENV}/bin/salt-minion
# KillMode=process leaves the minion's worker when the stop times out; the next start then
# sometimes exits at once ("The Salt Minion is shutdown"): start it again.
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

MASTER_UNIT = f"""\
[Unit]
Description=The Salt Master (pigsalt)
After=network.target
ConditionPathExists=/etc/salt/master.d/pigsalt.conf

[Service]
Type=notify
NotifyAccess=all
LimitNOFILE=100000
TimeoutStopSec=5
ExecStart={SALT_VENV}/bin/salt-master

[Install]
WantedBy=multi-user.target
"""


class _RepoInfo(Protocol):
    path: Path
    apt_dir: Path
    pypi_dir: Path
    keyring: Path
    releases: tuple[str, ...]

    def release_dir(self, codename: str) -> Path: ...


@dataclass(frozen=True)
class PackageSource:
    """The offline repository the nodes use: served over HTTP from ``path``."""

    path: Path
    apt_dir: Path
    pypi_dir: Path
    keyring: Path | None  # None: the APT repository is unsigned (trusted=yes)
    origin: str
    pigsalt_wheel: Path  # installed into the master node's Salt venv
    # Codename → the flat APT repository of that release, as a URL path below ``path``.
    suites: Mapping[str, str] = field(default_factory=dict)

    def suite_path(self, codename: str) -> str:
        """Where a node of ``codename`` finds its packages, below the repository's URL."""
        try:
            return self.suites[codename]
        except KeyError:
            have = ", ".join(sorted(self.suites)) or "none"
            raise PigsaltError(f"{self.origin}: no APT suite for {codename} (it has: {have})") from None


@dataclass(frozen=True)
class BaseRecipe:
    suite: str  # the release's codename
    # Debian archives to build from (one-line sources); the layer is rebuilt if they change.
    mirrors: tuple[str, ...]
    packages: tuple[str, ...] = BASE_PACKAGES
    build_version: int = BUILD_VERSION

    @classmethod
    def from_host(cls, codename: str) -> BaseRecipe:
        """The base of ``codename`` from this machine's own Debian mirrors (pigsalt.debian), even
        when its APT lists only another release."""
        return cls(suite=codename, mirrors=tuple(line for src in sources_for(codename) for line in src.lines()))

    @property
    def digest(self) -> str:
        return recipe_hash(asdict(self))

    @property
    def layer_name(self) -> str:
        return f"base-{self.suite}-{self.digest}"


@dataclass(frozen=True)
class SaltRecipe:
    suite: str  # the release's codename
    base: str  # digest of the base layer it sits on
    python: str  # the release's Python ("3.13"); the venv is made with its /usr/bin/python3
    salt_version: str
    wheels: tuple[str, ...]  # file names of the wheels that Python can install from
    units: tuple[str, ...] = (MINION_UNIT, MASTER_UNIT)
    build_version: int = BUILD_VERSION

    @property
    def digest(self) -> str:
        return recipe_hash(asdict(self))

    @property
    def layer_name(self) -> str:
        return f"salt-{self.suite}-{self.digest}"


@dataclass(frozen=True)
class Image:
    base: Path
    salt: Path

    @property
    def lowerdir(self) -> str:
        """overlayfs ``lowerdir``: the topmost layer first."""
        return f"{self.salt}:{self.base}"


def recipe_hash(recipe: object) -> str:
    """A short, stable hash of a JSON-able recipe."""
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def wheel_names(pypi_dir: Path, python: str | None = None) -> tuple[str, ...]:
    """The wheels a Salt layer is built from (pigsalt's own wheel is installed per node): those
    CPython ``python`` can install, so that adding another release's wheels to the wheelhouse
    leaves this release's layer as it is."""
    return tuple(
        sorted(
            p.name
            for p in pypi_dir.glob("*.whl")
            if not p.name.startswith("pigsalt-") and (python is None or wheel_fits(p.name, python))
        )
    )


def wheel_fits(filename: str, python: str) -> bool:
    """Whether pip on CPython ``python`` ("3.11") could pick the wheel ``filename``, judged by
    its Python and ABI tags (PEP 425; the platform tag is not looked at)."""
    parts = filename.removesuffix(".whl").split("-")
    if len(parts) < 5:
        return False
    major, minor = (int(x) for x in python.split(".")[:2])
    abis = parts[-2].split(".")
    for tag in parts[-3].split("."):
        found = re.fullmatch(r"(py|cp)(\d)(\d*)", tag)
        if found is None or int(found[2]) != major:
            continue
        impl, tag_minor = found[1], int(found[3]) if found[3] else None
        if impl == "py" and (tag_minor is None or tag_minor <= minor):
            return True
        if impl == "cp" and tag_minor is not None:
            if "abi3" in abis and tag_minor <= minor:
                return True
            if tag_minor == minor and (f"cp{major}{minor}" in abis or "none" in abis):
                return True
    return False


def mmdebstrap_argv(recipe: BaseRecipe, target: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--include=" + ",".join(recipe.packages),
        "--aptopt=Acquire::Retries=3",
        recipe.suite,
        str(target),
        *recipe.mirrors,
    ]


# --- the package source --------------------------------------------------------


def _repo_module() -> ModuleType | None:
    """``pigsalt.repo``, or None where it is not installed."""
    try:
        return importlib.import_module("pigsalt.repo")
    except ModuleNotFoundError as err:
        if err.name not in ("pigsalt.repo", "pigsalt"):
            raise
        return None


def ensure_packages(
    paths: SandboxPaths,
    project_dir: Path,
    codenames: Sequence[str] = (FALLBACK_SUITE,),
    progress: Progress = no_progress,
) -> PackageSource:
    """The offline repository from ``pigsalt.repo``, with a suite for each of ``codenames``, or,
    where pigsalt.repo is not installed, a local stand-in (bookworm only)."""
    repo = _repo_module()
    if repo is None:
        others = [c for c in codenames if c != FALLBACK_SUITE]
        if others:
            raise _fallback_refusal(others)
        return _fallback_packages(paths, project_dir, progress)
    info = cast(_RepoInfo, repo.ensure_repo(repo.DEFAULT_REPO_DIR, releases=tuple(codenames), progress=progress))
    missing = [c for c in codenames if c not in info.releases]
    if missing:
        raise PigsaltError(f"{info.path}: the repository has no suite for {', '.join(missing)}")
    keyring = info.keyring if info.keyring.is_file() else None
    # ensure_repo rebuilds pigsalt's wheel whenever the working tree changed.
    wheels = sorted(info.pypi_dir.glob("pigsalt-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise PigsaltError(f"{info.pypi_dir}: no pigsalt wheel")
    return PackageSource(
        path=info.path,
        apt_dir=info.apt_dir,
        pypi_dir=info.pypi_dir,
        keyring=keyring,
        origin=f"pigsalt.repo at {info.path}",
        pigsalt_wheel=wheels[-1],
        suites={c: _url_path(info.release_dir(c), info.path) for c in codenames},
    )


def _fallback_refusal(what: Sequence[str]) -> PigsaltError:
    return PigsaltError(
        f"without pigsalt.repo the sandbox has packages for Debian 12 ({FALLBACK_SUITE}) only: {', '.join(what)}"
    )


def _url_path(directory: Path, top: Path) -> str:
    """``directory``'s URL path on the server that serves ``top`` ("apt/trixie/")."""
    try:
        return directory.relative_to(top).as_posix().rstrip("/") + "/"
    except ValueError:
        raise PigsaltError(f"{directory}: not inside the repository {top}, so not served to the nodes") from None


def _fallback_packages(paths: SandboxPaths, project_dir: Path, progress: Progress) -> PackageSource:
    """Wheels for Salt built here, and an empty unsigned APT repository for bookworm."""
    repo = paths.fallback_repo
    pypi = repo / "pypi"
    apt = repo / "apt" / FALLBACK_SUITE
    constraints = project_dir / "requirements" / "constraints.txt"
    recipe = {
        "requirements": FALLBACK_REQUIREMENTS,
        "constraints": constraints.read_text() if constraints.is_file() else "",
        "build_version": BUILD_VERSION,
    }
    stamp = pypi / ".recipe"
    digest = recipe_hash(recipe)
    if not (stamp.is_file() and stamp.read_text() == digest):
        progress(f"building Salt {SALT_VERSION} wheels with {NODE_PYTHON} (pigsalt.repo not available)")
        tmp = repo / ".pypi.tmp"
        remove_tree(tmp)
        tmp.mkdir(parents=True)
        argv = [NODE_PYTHON, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(tmp)]
        if constraints.is_file():
            argv += ["--constraint", str(constraints)]
        run([*argv, *FALLBACK_REQUIREMENTS], timeout=1200)
        (tmp / ".recipe").write_text(digest)
        remove_tree(pypi)
        tmp.rename(pypi)
    if not (apt / "Packages").is_file():
        apt.mkdir(parents=True, exist_ok=True)
        packages = apt / "Packages"
        packages.write_text("")
        sha = hashlib.sha256(b"").hexdigest()
        (apt / "Release").write_text(
            f"Origin: pigsalt-sandbox\nLabel: pigsalt-sandbox\nSuite: sandbox\nSHA256:\n {sha} 0 Packages\n"
        )
    progress("building the pigsalt wheel from the working tree")
    wheel = build_pigsalt_wheel(project_dir, paths.pigsalt_wheel_dir)
    return PackageSource(
        path=repo,
        apt_dir=apt,
        pypi_dir=pypi,
        keyring=None,
        origin=f"sandbox fallback at {repo} (pigsalt.repo not installed)",
        pigsalt_wheel=wheel,
        suites={FALLBACK_SUITE: _url_path(apt, repo)},
    )


def build_pigsalt_wheel(project_dir: Path, out_dir: Path) -> Path:
    """Build pigsalt's wheel from the working tree (a copy, so the tree stays clean)."""
    if not (project_dir / "setup.cfg").is_file() or not (project_dir / "pigsalt").is_dir():
        raise PigsaltError(f"{project_dir}: not a pigsalt source tree (no setup.cfg or pigsalt/)")
    remove_tree(out_dir)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="pigsalt-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("setup.cfg", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE"):
            if (project_dir / name).is_file():
                shutil.copy2(project_dir / name, src / name)
        shutil.copytree(
            project_dir / "pigsalt",
            src / "pigsalt",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        run(
            [
                NODE_PYTHON,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--wheel-dir",
                str(out_dir),
                str(src),
            ],
            timeout=300,
        )
    wheels = sorted(out_dir.glob("pigsalt-*.whl"))
    if not wheels:
        raise PigsaltError(f"building the pigsalt wheel left nothing in {out_dir}")
    return wheels[-1]


# --- layers --------------------------------------------------------------------


def _stamp(layer: Path) -> Path:
    """Written beside a layer once it is complete (inside, nodes would see it)."""
    return layer.parent / f"{layer.name}.json"


def _finish(tmp: Path, target: Path, recipe: object) -> None:
    remove_tree(target)
    tmp.rename(target)
    _stamp(target).write_text(json.dumps(recipe, indent=1) + "\n")


def layer_suite(name: str, kind: str) -> str | None:
    """The codename of the layer directory ``name`` of ``kind`` ("base", "salt"); None when it
    is no layer. Layers made before the sandbox ran several releases have no codename in their
    name: they are bookworm's."""
    found = re.fullmatch(rf"{kind}-(?:([a-z]+)-)?[0-9a-f]{{16}}", name)
    if found is None:
        return None
    return found[1] or "bookworm"


def _prune(images: Path, kind: str, suite: str, keep: Path) -> None:
    """Drop the layers of ``suite``'s older recipes; other releases' layers stay."""
    for old in images.glob(f"{kind}-*"):
        if old.is_dir() and old != keep and layer_suite(old.name, kind) == suite:
            _stamp(old).unlink(missing_ok=True)
            remove_tree(old)


def ensure_base(paths: SandboxPaths, recipe: BaseRecipe, progress: Progress = no_progress) -> Path:
    target = paths.images / recipe.layer_name
    if _stamp(target).is_file() and target.is_dir():
        return target
    require_tools(["mmdebstrap", "systemctl"])
    progress(f"building the Debian {recipe.suite} base image with mmdebstrap (about a minute)")
    tmp = paths.images / f".build-{recipe.layer_name}"
    remove_tree(tmp)
    paths.images.mkdir(parents=True, exist_ok=True)
    run(mmdebstrap_argv(recipe, tmp), timeout=1800)
    customize_base(tmp)
    _finish(tmp, target, asdict(recipe))
    _prune(paths.images, "base", recipe.suite, target)
    return target


def customize_base(root: Path) -> None:
    """What every node shares: no identity, no outside sources, networkd on."""
    etc = root / "etc"
    # Empty: each node gets its own machine-id on first boot.
    (etc / "machine-id").write_text("")
    for name in ("hostname", "resolv.conf"):
        (etc / name).unlink(missing_ok=True)
    (etc / "resolv.conf").write_text("# pigsalt sandbox: no DNS; node names are in /etc/hosts\n")
    (etc / "apt" / "sources.list").write_text("")
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"])
    # The console is read by nobody; a getty on it only costs memory.
    run(["systemctl", f"--root={root}", "mask", "console-getty.service"])


def salt_recipe(base: BaseRecipe, pypi_dir: Path) -> SaltRecipe:
    """The Salt layer on ``base``: its release's Python and the wheels that Python installs."""
    python = release(base.suite).python
    wheels = wheel_names(pypi_dir, python)
    if not any(w.startswith("salt-") for w in wheels):
        raise PigsaltError(f"{pypi_dir}: no salt wheel for Python {python} to build the {base.suite} Salt layer from")
    return SaltRecipe(suite=base.suite, base=base.digest, python=python, salt_version=SALT_VERSION, wheels=wheels)


def ensure_salt_layer(
    paths: SandboxPaths,
    base: Path,
    base_recipe: BaseRecipe,
    packages: PackageSource,
    progress: Progress = no_progress,
) -> Path:
    """Salt in a venv made by the base's own ``/usr/bin/python3``, from the wheelhouse only."""
    recipe = salt_recipe(base_recipe, packages.pypi_dir)
    target = paths.images / recipe.layer_name
    if _stamp(target).is_file() and target.is_dir():
        return target
    require_tools(["systemd-nspawn", "mount"])
    progress(
        f"building the {recipe.suite} Salt {SALT_VERSION} layer (Python {recipe.python}, {SALT_VENV}, "
        f"from {len(recipe.wheels)} wheels)"
    )
    build = paths.images / f".build-{recipe.layer_name}"
    remove_tree(build)
    upper, work, merged = build / "upper", build / "work", build / "root"
    for path in (upper, work, merged):
        path.mkdir(parents=True)
    machine = f"pigsalt-build-{recipe.suite}"
    run(
        [
            "mount",
            "-t",
            "overlay",
            machine,
            "-o",
            f"lowerdir={base},upperdir={upper},workdir={work}",
            str(merged),
        ]
    )
    try:
        pip_install = [f"{SALT_VENV}/bin/pip", "install", "--quiet", "--no-index", "--find-links", "/mnt/pypi"]
        pip_install += ["--disable-pip-version-check", f"salt=={SALT_VERSION}"]
        for command in ([NODE_PYTHON, "-m", "venv", SALT_VENV], pip_install):
            run_in_root(
                merged,
                command,
                machine=machine,
                what=f"building the Salt layer: {' '.join(command)}",
                # The releases' layers are built side by side, each in a cgroup of its own.
                cgroup=f"build-{recipe.suite}",
                cgroup_top=CGROUP_NAME,
                binds_ro=[(packages.pypi_dir, "/mnt/pypi")],
                timeout=1200,
            )
        install_salt_files(merged)
    finally:
        for mount in mounts_below(build):
            unmount(mount.mountpoint)
    check_venv_python(upper, recipe.python)
    (upper / "mnt" / "pypi").rmdir()
    (upper / "etc" / "machine-id").unlink(missing_ok=True)
    _finish(upper, target, asdict(recipe))
    remove_tree(build)
    _prune(paths.images, "salt", recipe.suite, target)
    return target


def check_venv_python(root: Path, python: str) -> None:
    """The Salt venv below ``root`` runs on ``python`` ("3.13"), as its release says it should."""
    cfg = root / SALT_VENV.lstrip("/") / "pyvenv.cfg"
    try:
        text = cfg.read_text()
    except OSError as err:
        raise PigsaltError(f"building the Salt layer: no {SALT_VENV}/pyvenv.cfg ({err.strerror})") from err
    found = re.search(r"^version\s*=\s*(\d+\.\d+)", text, re.MULTILINE)
    if found is None or found[1] != python:
        have = found[1] if found else "an unknown Python"
        raise PigsaltError(f"building the Salt layer: {SALT_VENV} runs on {have}, expected Python {python}")


def install_salt_files(root: Path) -> None:
    """Commands on PATH, unit files, config directories."""
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command in SALT_COMMANDS:
        link = bin_dir / command
        link.unlink(missing_ok=True)
        link.symlink_to(f"{SALT_VENV}/bin/{command}")
    units = root / "etc" / "systemd" / "system"
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    for name, text in (("salt-minion.service", MINION_UNIT), ("salt-master.service", MASTER_UNIT)):
        (units / name).write_text(text)
        link = wants / name
        link.unlink(missing_ok=True)
        link.symlink_to(f"/etc/systemd/system/{name}")
    for sub in ("master.d", "minion.d", "pki"):
        (root / "etc" / "salt" / sub).mkdir(parents=True, exist_ok=True)


def ensure_packages_and_images(
    paths: SandboxPaths, project_dir: Path, layout: Layout, progress: Progress = no_progress
) -> tuple[PackageSource, dict[str, Image]]:
    """The offline repository and an image for each release the layout's nodes run (by release
    name). The base layers need nothing from the repository, so on a cold machine mmdebstrap
    builds them while the repository is built; the Salt layers wait for its wheels."""
    releases = layout.releases
    if _repo_module() is None:  # refused before anything is built
        others = [f"{n.name} runs {n.os}" for n in layout.nodes if n.release.codename != FALLBACK_SUITE]
        if others:
            raise _fallback_refusal(others)
    recipes = {r.name: BaseRecipe.from_host(r.codename) for r in releases}
    with ThreadPoolExecutor(max_workers=len(recipes)) as pool:
        base_builds = {name: pool.submit(ensure_base, paths, recipe, progress) for name, recipe in recipes.items()}
        try:
            packages = ensure_packages(paths, project_dir, [r.codename for r in releases], progress)
        finally:
            wait(base_builds.values())  # the repository's error, if any, is the one to report
        bases = {name: build.result() for name, build in base_builds.items()}
        salt_builds = {
            name: pool.submit(ensure_salt_layer, paths, bases[name], recipe, packages, progress)
            for name, recipe in recipes.items()
        }
        wait(salt_builds.values())
        images = {name: Image(base=bases[name], salt=build.result()) for name, build in salt_builds.items()}
    return packages, images
