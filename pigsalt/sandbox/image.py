"""The node image: a Debian 12 base layer and a Salt layer, built once and cached.

Each layer lives in ``<root>/images/<kind>-<hash>``, where the hash covers its whole
recipe (packages, mirrors, Salt version, the wheels, this script's version), so a
changed recipe builds a new layer and an unchanged one is reused. Nodes stack them
with overlayfs: ``lowerdir=<salt layer>:<base layer>``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, cast

from pigsalt.debian import host_sources
from pigsalt.errors import PigsaltError
from pigsalt.sandbox.layout import SandboxPaths
from pigsalt.sandbox.system import (
    Progress,
    create_cgroup,
    join_cgroups,
    mounts_below,
    no_progress,
    remove_tree,
    require_tools,
    run,
    unmount,
)

# Bump when the build steps below change in a way the recipe does not show.
BUILD_VERSION = 3
SALT_VERSION = "3008.3"
SALT_VENV = "/opt/pigsalt/salt"
SUITE = "bookworm"
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
# The Python interpreter the nodes run (Debian 12's); wheels are built with it.
NODE_PYTHON = "/usr/bin/python3"
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


@dataclass(frozen=True)
class PackageSource:
    """The offline repository the nodes use: served over HTTP from ``path``."""

    path: Path
    apt_dir: Path
    pypi_dir: Path
    keyring: Path | None  # None: the APT repository is unsigned (trusted=yes)
    origin: str
    pigsalt_wheel: Path  # installed into the master node's Salt venv


@dataclass(frozen=True)
class BaseRecipe:
    suite: str = SUITE
    # The host's own Debian archives (pigsalt.debian); the image is rebuilt if they change.
    mirrors: tuple[str, ...] = field(
        default_factory=lambda: tuple(line for src in host_sources(SUITE) for line in src.lines())
    )
    packages: tuple[str, ...] = BASE_PACKAGES
    build_version: int = BUILD_VERSION

    @property
    def digest(self) -> str:
        return recipe_hash(asdict(self))


@dataclass(frozen=True)
class SaltRecipe:
    base: str  # digest of the base layer it sits on
    salt_version: str
    wheels: tuple[str, ...]  # file names of the wheels it is installed from
    units: tuple[str, ...] = (MINION_UNIT, MASTER_UNIT)
    build_version: int = BUILD_VERSION

    @property
    def digest(self) -> str:
        return recipe_hash(asdict(self))


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


def wheel_names(pypi_dir: Path) -> tuple[str, ...]:
    """The wheels a Salt layer is built from (pigsalt's own wheel is installed per node)."""
    return tuple(sorted(p.name for p in pypi_dir.glob("*.whl") if not p.name.startswith("pigsalt-")))


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


def nspawn_run_argv(root: Path, binds_ro: Sequence[tuple[Path, str]], command: Sequence[str]) -> list[str]:
    """Run one command in ``root`` (no boot, no network): how the Salt layer is built."""
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        "--directory",
        str(root),
        "--machine=pigsalt-build",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--private-network",
        "--pipe",
    ]
    argv += [f"--bind-ro={src}:{dst}" for src, dst in binds_ro]
    return [*argv, "--", *command]


# --- the package source --------------------------------------------------------


def ensure_packages(paths: SandboxPaths, project_dir: Path, progress: Progress = no_progress) -> PackageSource:
    """The offline repository from ``pigsalt.repo`` or, until it exists, a local stand-in."""
    try:
        repo = importlib.import_module("pigsalt.repo")
    except ModuleNotFoundError as err:
        if err.name not in ("pigsalt.repo", "pigsalt"):
            raise
        return _fallback_packages(paths, project_dir, progress)
    info = cast(_RepoInfo, repo.ensure_repo(repo.DEFAULT_REPO_DIR, progress=progress))
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
    )


def _fallback_packages(paths: SandboxPaths, project_dir: Path, progress: Progress) -> PackageSource:
    """Wheels for Salt built here, and an empty unsigned APT repository."""
    repo = paths.fallback_repo
    pypi = repo / "pypi"
    apt = repo / "apt"
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


def _prune(images: Path, kind: str, keep: Path) -> None:
    """Drop the layers of older recipes."""
    for old in images.glob(f"{kind}-*"):
        if old.is_dir() and old != keep:
            _stamp(old).unlink(missing_ok=True)
            remove_tree(old)


def ensure_base(paths: SandboxPaths, recipe: BaseRecipe, progress: Progress = no_progress) -> Path:
    target = paths.images / f"base-{recipe.digest}"
    if _stamp(target).is_file() and target.is_dir():
        return target
    require_tools(["mmdebstrap", "systemctl"])
    progress(f"building the Debian {recipe.suite} base image with mmdebstrap (about 30 s)")
    tmp = paths.images / f".build-base-{recipe.digest}"
    remove_tree(tmp)
    paths.images.mkdir(parents=True, exist_ok=True)
    run(mmdebstrap_argv(recipe, tmp), timeout=1800)
    customize_base(tmp)
    _finish(tmp, target, asdict(recipe))
    _prune(paths.images, "base", target)
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


def ensure_salt_layer(
    paths: SandboxPaths,
    base: Path,
    base_digest: str,
    packages: PackageSource,
    progress: Progress = no_progress,
) -> Path:
    wheels = wheel_names(packages.pypi_dir)
    if not any(w.startswith("salt-") for w in wheels):
        raise PigsaltError(f"{packages.pypi_dir}: no salt wheel to build the Salt layer from")
    recipe = SaltRecipe(base=base_digest, salt_version=SALT_VERSION, wheels=wheels)
    target = paths.images / f"salt-{recipe.digest}"
    if _stamp(target).is_file() and target.is_dir():
        return target
    require_tools(["systemd-nspawn", "mount"])
    progress(f"building the Salt {SALT_VERSION} layer ({SALT_VENV}, from {len(wheels)} wheels)")
    build = paths.images / f".build-salt-{recipe.digest}"
    remove_tree(build)
    upper, work, merged = build / "upper", build / "work", build / "root"
    for path in (upper, work, merged):
        path.mkdir(parents=True)
    run(
        [
            "mount",
            "-t",
            "overlay",
            "pigsalt-build",
            "-o",
            f"lowerdir={base},upperdir={upper},workdir={work}",
            str(merged),
        ]
    )
    try:
        binds = [(packages.pypi_dir, "/mnt/pypi")]
        _nspawn_run(merged, binds, [NODE_PYTHON, "-m", "venv", SALT_VENV])
        _nspawn_run(
            merged,
            binds,
            [
                f"{SALT_VENV}/bin/pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                "/mnt/pypi",
                "--disable-pip-version-check",
                f"salt=={SALT_VERSION}",
            ],
        )
        install_salt_files(merged)
    finally:
        for mount in mounts_below(build):
            unmount(mount.mountpoint)
    (upper / "mnt" / "pypi").rmdir()
    (upper / "etc" / "machine-id").unlink(missing_ok=True)
    _finish(upper, target, asdict(recipe))
    remove_tree(build)
    _prune(paths.images, "salt", target)
    return target


def _nspawn_run(root: Path, binds: Sequence[tuple[Path, str]], command: Sequence[str]) -> None:
    cgroups = create_cgroup("build")
    argv = nspawn_run_argv(root, binds, command)
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=join_cgroups(cgroups),
        timeout=1200,
        check=False,
    )
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise PigsaltError(
            f"building the Salt layer: {' '.join(command)} failed: {lines[-1] if lines else result.returncode}"
        )


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


def ensure_packages_and_image(
    paths: SandboxPaths, project_dir: Path, progress: Progress = no_progress
) -> tuple[PackageSource, Image]:
    """The offline repository and the node image. The base layer needs nothing from the
    repository, so on a cold machine mmdebstrap builds it while the repository is built; the
    Salt layer waits for the repository's wheels."""
    recipe = BaseRecipe()
    with ThreadPoolExecutor(max_workers=1) as pool:
        base_build = pool.submit(ensure_base, paths, recipe, progress)
        try:
            packages = ensure_packages(paths, project_dir, progress)
        finally:
            wait([base_build])  # the repository's error, if any, is the one to report
        base = base_build.result()
    salt = ensure_salt_layer(paths, base, recipe.digest, packages, progress)
    return packages, Image(base=base, salt=salt)
