"""Build, check and package the offline repository.

Layout of the repository directory (served as-is at ``http://repo.pigsty/``)::

    apt/            flat, signed Debian repository: *.deb, Packages(.gz), Release, InRelease,
                    Release.gpg, pigsalt-archive-keyring.gpg
    pypi/           wheelhouse (*.whl) + simple/ (PEP 503 index)
    manifest.json   what was built, from which recipe, when

A build happens in a sibling staging directory that replaces ``dest`` only when complete, so
a reader (Nginx, a node's apt) sees the old repository or the new one, never half of one.
"""

from __future__ import annotations

import configparser
import fcntl
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pigsalt
from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_text_atomic
from pigsalt.repo import apt as apt_mod
from pigsalt.repo._util import Progress, say, tree_size
from pigsalt.repo.pypi import (
    SOURCE_PACKAGE,
    WheelBuilder,
    normalize,
    source_hash,
    wheel_project,
    write_simple_index,
)
from pigsalt.repo.recipe import BUILDER_VERSION, RECIPE_PATH, Recipe, load_recipe, recipe_hash
from pigsalt.repo.signing import DEFAULT_KEY_DIR, SigningKey, verify_release

DEFAULT_REPO_DIR = Path("/var/lib/pigsalt/repo")
DEFAULT_CACHE_DIR = Path("/var/lib/pigsalt/cache/repo")
MANIFEST = "manifest.json"
KEYRING_NAME = "pigsalt-archive-keyring.gpg"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class RepoInfo:
    """A built repository. ``packages`` names every Debian package in ``apt/`` (the closure)."""

    path: Path
    apt_dir: Path
    pypi_dir: Path
    keyring: Path
    recipe_hash: str
    packages: tuple[str, ...]
    requested: tuple[str, ...] = ()
    wheels: tuple[str, ...] = ()
    key_fingerprint: str = ""
    built_at: str = ""
    total_bytes: int = 0

    @classmethod
    def from_manifest(cls, path: Path, manifest: dict[str, Any]) -> RepoInfo:
        """The info of the repository at ``path`` described by ``manifest``."""
        try:
            return cls(
                path=path,
                apt_dir=path / "apt",
                pypi_dir=path / "pypi",
                keyring=path / "apt" / KEYRING_NAME,
                recipe_hash=str(manifest["recipe_hash"]),
                packages=tuple(deb.split("=", 1)[0] for deb in manifest["apt"]["packages"]),
                requested=tuple(manifest["apt"]["requested"]),
                wheels=tuple(manifest["pypi"]["wheels"]),
                key_fingerprint=str(manifest.get("key_fingerprint", "")),
                built_at=str(manifest.get("built_at", "")),
                total_bytes=int(manifest.get("total_bytes", 0)),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise PigsaltError(f"{path / MANIFEST}: not a pigsalt repository manifest ({err})") from err


@dataclass(frozen=True)
class SourceTree:
    """The pigsalt checkout the repository is built from: its wheel and its constraints."""

    root: Path

    @property
    def constraints(self) -> Path:
        return self.root / "requirements" / "constraints.txt"

    def install_requires(self) -> str:
        """pigsalt's ``install_requires`` from setup.cfg (part of the recipe hash)."""
        parser = configparser.ConfigParser()
        parser.read(self.root / "setup.cfg", encoding="utf-8")
        return parser.get("options", "install_requires", fallback="").strip()

    @classmethod
    def find(cls, root: Path | None = None) -> SourceTree:
        """The given checkout, else the one this pigsalt is imported from."""
        candidate = root or Path(pigsalt.__file__).resolve().parent.parent
        tree = cls(candidate)
        if not (candidate / "setup.cfg").is_file() or not tree.constraints.is_file():
            raise PigsaltError(
                f"{candidate} is not a pigsalt source checkout (setup.cfg and requirements/constraints.txt): "
                "build the repository from a clone of pigsalt"
            )
        return tree


@dataclass(frozen=True)
class RepoStatus:
    """What ``pigsalt repo status`` reports."""

    path: Path
    info: RepoInfo | None
    manifest: dict[str, Any] = field(default_factory=dict)
    current_hash: str | None = None
    signature_ok: bool | None = None
    problems: tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        """Built, complete, signed, and from the current recipe (when that can be known)."""
        if self.info is None or self.problems:
            return False
        return self.current_hash is None or self.current_hash == self.info.recipe_hash


def current_recipe_hash(recipe: Recipe, source: SourceTree) -> str:
    """The hash a repository built now from ``recipe`` and ``source`` would carry."""
    return recipe_hash(recipe, source.constraints.read_text(encoding="utf-8"), source.install_requires())


def read_manifest(dest: Path) -> dict[str, Any] | None:
    """The manifest of the repository at ``dest``, or None when there is none."""
    try:
        data = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise PigsaltError(f"{dest / MANIFEST}: unreadable ({err})") from err
    if not isinstance(data, dict):
        raise PigsaltError(f"{dest / MANIFEST}: not a pigsalt repository manifest")
    return data


def read_repo(dest: Path = DEFAULT_REPO_DIR) -> RepoInfo:
    """The repository at ``dest``; an error when none was built there."""
    manifest = read_manifest(dest)
    if manifest is None:
        raise PigsaltError(f"no repository at {dest}: run `pigsalt repo build`")
    return RepoInfo.from_manifest(dest, manifest)


def build_repo(
    dest: Path = DEFAULT_REPO_DIR,
    progress: Progress | None = None,
    force: bool = False,
    *,
    recipe_path: Path = RECIPE_PATH,
    source: Path | None = None,
    key_dir: Path = DEFAULT_KEY_DIR,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> RepoInfo:
    """Build the repository at ``dest`` from the recipe, replacing what is there.

    A rebuild re-resolves everything against the mirror (it picks up security updates).
    ``force`` allows replacing a non-empty ``dest`` that is not a pigsalt repository.
    """
    dest = _absolute(dest)
    with _os_errors(), _locked(dest):
        return _build(dest, progress, force, recipe_path, SourceTree.find(source), key_dir, cache_dir)


def ensure_repo(
    dest: Path = DEFAULT_REPO_DIR,
    progress: Progress | None = None,
    *,
    recipe_path: Path = RECIPE_PATH,
    source: Path | None = None,
    key_dir: Path = DEFAULT_KEY_DIR,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> RepoInfo:
    """The repository at ``dest``, built only when missing, incomplete or from another recipe.

    When only pigsalt's own code changed, just its wheel (and the index) is rebuilt.
    """
    dest = _absolute(dest)
    tree = SourceTree.find(source)
    recipe = load_recipe(recipe_path)
    wanted = current_recipe_hash(recipe, tree)
    with _os_errors(), _locked(dest):
        manifest = read_manifest(dest) if dest.is_dir() else None
        if manifest is not None and manifest.get("recipe_hash") == wanted and not _missing_parts(dest):
            info = RepoInfo.from_manifest(dest, manifest)
            if manifest.get("pigsalt_source_hash") != source_hash(tree.root):
                _refresh_pigsalt(dest, manifest, recipe, tree, cache_dir, progress)
                info = RepoInfo.from_manifest(dest, manifest)
            say(progress, f"repo: {dest} is up to date ({len(info.packages)} debs, {len(info.wheels)} wheels)")
            return info
        reason = "missing" if manifest is None else "built from another recipe or incomplete"
        say(progress, f"repo: {dest} is {reason}: building it")
        return _build(dest, progress, False, recipe_path, tree, key_dir, cache_dir)


def repo_status(dest: Path = DEFAULT_REPO_DIR, source: Path | None = None) -> RepoStatus:
    """Inspect the repository at ``dest``: manifest, completeness, signature, recipe freshness."""
    dest = _absolute(dest)
    manifest = read_manifest(dest) if dest.is_dir() else None
    if manifest is None:
        return RepoStatus(path=dest, info=None, problems=(f"no repository at {dest}",))
    info = RepoInfo.from_manifest(dest, manifest)
    problems = [f"missing {part}" for part in _missing_parts(dest)]
    signature_ok: bool | None = None
    if not problems:
        try:
            verify_release(info.apt_dir, info.keyring)
            signature_ok = True
        except PigsaltError as err:
            signature_ok = False
            problems.append(f"signature check failed: {err.message}")
    current: str | None = None
    try:
        current = current_recipe_hash(load_recipe(), SourceTree.find(source))
    except PigsaltError:
        current = None  # no source checkout here (e.g. on the meta node): freshness is unknown
    return RepoStatus(
        path=dest,
        info=info,
        manifest=manifest,
        current_hash=current,
        signature_ok=signature_ok,
        problems=tuple(problems),
    )


def write_tarball(dest: Path, tarball: Path, progress: Progress | None = None) -> Path:
    """Pack the repository at ``dest`` as ``tarball`` (.tar.gz, top directory ``repo/``).

    On the meta node: ``tar -xzf <tarball> -C /var/lib/pigsalt`` gives ``/var/lib/pigsalt/repo``.
    """
    dest = _absolute(dest)
    read_repo(dest)
    tarball = _absolute(tarball)
    if tarball.is_relative_to(dest):
        raise PigsaltError(f"the tarball {tarball} cannot be written inside the repository {dest}")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    tmp = tarball.with_name(f".{tarball.name}.tmp-{os.getpid()}")
    say(progress, f"tarball: writing {tarball}")

    def owned_by_root(member: tarfile.TarInfo) -> tarfile.TarInfo:
        member.uid = member.gid = 0
        member.uname = member.gname = "root"
        return member

    try:
        with tarfile.open(tmp, "w:gz", compresslevel=6) as archive:
            archive.add(dest, arcname="repo", filter=owned_by_root)
        tmp.replace(tarball)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    say(progress, f"tarball: {tarball} ({tarball.stat().st_size / 1e6:.0f} MB)")
    return tarball


# --- internals -------------------------------------------------------------------------------


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _missing_parts(dest: Path) -> list[str]:
    parts = [
        "apt/Packages",
        "apt/Packages.gz",
        "apt/Release",
        "apt/InRelease",
        "apt/Release.gpg",
        f"apt/{KEYRING_NAME}",
        "pypi/simple/index.html",
    ]
    return [part for part in parts if not (dest / part).is_file()]


@contextmanager
def _os_errors() -> Iterator[None]:
    """A file system error (not root, disk full) as one line instead of a traceback."""
    try:
        yield
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        raise PigsaltError(f"repo: {where}{err.strerror or err} (building the repository needs root)") from err


@contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """One build of ``dest`` at a time (across processes); a second caller waits."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_places(dest: Path, force: bool, key_dir: Path, cache_dir: Path) -> None:
    if dest == Path("/") or len(dest.parts) < 3:
        raise PigsaltError(f"refusing to build a repository at {dest}: choose a dedicated directory")
    for other, what in ((_absolute(key_dir), "signing key"), (_absolute(cache_dir), "cache")):
        if other.is_relative_to(dest) or dest.is_relative_to(other):
            raise PigsaltError(f"the repository {dest} and the {what} directory {other} must not contain each other")
    if dest.exists() and not dest.is_dir():
        raise PigsaltError(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MANIFEST).is_file() and not force:
        raise PigsaltError(f"{dest} is not empty and holds no pigsalt repository: use --force to replace it")


def _build(
    dest: Path,
    progress: Progress | None,
    force: bool,
    recipe_path: Path,
    tree: SourceTree,
    key_dir: Path,
    cache_dir: Path,
) -> RepoInfo:
    started = time.monotonic()
    recipe = load_recipe(recipe_path)
    _check_places(dest, force, key_dir, cache_dir)
    rhash = current_recipe_hash(recipe, tree)
    for leftover in dest.parent.glob(f".{dest.name}.build-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # from an interrupted build (we hold the lock)
    staging = dest.parent / f".{dest.name}.build-{os.getpid()}"
    work = cache_dir / "work"
    try:
        staging.mkdir(parents=True)
        os.chmod(staging, 0o755)
        apt_dir, pypi_dir = staging / "apt", staging / "pypi"
        arch = apt_mod.host_architecture()

        # The Debian half (apt's resolver is CPU, the download network) and the Python half
        # (compiling timelib is CPU) run side by side: on two cores that halves a cold build.
        def debian() -> tuple[list[apt_mod.Deb], str]:
            workspace = apt_mod.AptWorkspace(cache_dir / "apt", recipe, arch)
            workspace.prepare()
            say(progress, f"apt: updating package lists ({', '.join(s.uri for s in recipe.effective_sources())})")
            workspace.update()
            say(progress, f"apt: resolving {len(recipe.packages)} packages with their dependencies")
            debs = workspace.resolve(recipe.packages)
            absent = workspace.absent(debs)
            say(progress, f"apt: {len(debs)} packages in the closure; downloading {len(absent)} (the rest are cached)")
            workspace.download(absent)
            workspace.collect(debs, apt_dir)
            say(progress, "apt: indexing (dpkg-scanpackages) and signing")
            apt_mod.write_packages_index(apt_dir)
            description = f"pigsalt {pigsalt.__version__} offline repository for Debian {recipe.release}"
            write_text_atomic(
                apt_dir / "Release",
                apt_mod.release_text(apt_dir, architecture=arch, codename=recipe.release, description=description),
            )
            key = SigningKey(key_dir)
            fingerprint = key.ensure(progress)
            key.sign_release(apt_dir, fingerprint)
            key.export_keyring(fingerprint, apt_dir / KEYRING_NAME)
            verify_release(apt_dir, apt_dir / KEYRING_NAME)
            return debs, fingerprint

        def python() -> str:
            # Wheels built with the nodes' interpreter, then indexed.
            builder = WheelBuilder(cache_dir, recipe)
            python_version = builder.prepare()
            say(progress, f"pypi: building wheels with {recipe.python} ({python_version}): this takes a minute")
            work.mkdir(parents=True, exist_ok=True)
            builder.build_all(tree.root, tree.constraints, pypi_dir, work)
            _check_wheels(write_simple_index(pypi_dir), recipe)
            say(progress, "pypi: wheels built and indexed")
            return python_version

        with ThreadPoolExecutor(max_workers=2) as pool:
            debian_half, python_half = pool.submit(debian), pool.submit(python)
            (debs, fingerprint), python_version = debian_half.result(), python_half.result()

        manifest = {
            "format": MANIFEST_FORMAT,
            "recipe_hash": rhash,
            "builder_version": BUILDER_VERSION,
            "pigsalt_version": pigsalt.__version__,
            "pigsalt_source_hash": source_hash(tree.root),
            "salt_version": recipe.salt_version,
            "release": recipe.release,
            "architecture": arch,
            "python_version": python_version,
            "key_fingerprint": fingerprint,
            "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "build_seconds": 0.0,
            "apt": {
                "requested": list(recipe.packages),
                "groups": {group: list(names) for group, names in recipe.groups},
                "include_minbase": recipe.include_minbase,
                "count": len(debs),
                "bytes": tree_size(apt_dir),
                "packages": [f"{deb.name}={deb.version}" for deb in debs],
            },
            "pypi": {
                "requirements": list(recipe.requirements),
                "count": len(list(pypi_dir.glob("*.whl"))),
                "bytes": tree_size(pypi_dir),
                "wheels": sorted(w.name for w in pypi_dir.glob("*.whl")),
            },
            "total_bytes": tree_size(staging),
        }
        manifest["build_seconds"] = round(time.monotonic() - started, 1)
        _write_manifest(staging, manifest)
        _swap(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = RepoInfo.from_manifest(dest, manifest)
    say(
        progress,
        f"repo: built {dest}: {len(info.packages)} debs, {len(info.wheels)} wheels, "
        f"{info.total_bytes / 1e6:.0f} MB in {manifest['build_seconds']:.0f} s",
    )
    return info


def _check_wheels(projects: dict[str, list[str]], recipe: Recipe) -> None:
    """Every top-level requirement (and pigsalt) must have a wheel: pip would not say if not."""
    wanted = {SOURCE_PACKAGE}
    for req in recipe.requirements:
        name = req.split("[", 1)[0]
        for sep in ("=", "<", ">", "!", "~", ";", " "):
            name = name.split(sep, 1)[0]
        wanted.add(name.strip())
    absent = sorted(name for name in wanted if normalize(name) not in projects)
    if absent:
        raise PigsaltError(f"pip wheel produced no wheel for: {', '.join(absent)}")


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _swap(staging: Path, dest: Path) -> None:
    """Put the finished ``staging`` in place of ``dest`` (two renames; dest is absent for an instant)."""
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        dest.rename(old)
    try:
        staging.rename(dest)
    except BaseException:
        if old.exists():
            old.rename(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _refresh_pigsalt(
    dest: Path,
    manifest: dict[str, Any],
    recipe: Recipe,
    tree: SourceTree,
    cache_dir: Path,
    progress: Progress | None,
) -> None:
    """Replace only pigsalt's wheel (its code changed, its dependencies did not)."""
    say(progress, "pypi: pigsalt's source changed: rebuilding its wheel")
    pypi_dir = dest / "pypi"
    work = cache_dir / "work"
    try:
        builder = WheelBuilder(cache_dir, recipe)
        builder.prepare()
        wheel = builder.build_pigsalt(tree.root, pypi_dir, work)
        tmp = pypi_dir / f".{wheel.name}.tmp"
        shutil.copy2(wheel, tmp)
        tmp.replace(pypi_dir / wheel.name)
        for old in pypi_dir.glob("*.whl"):
            if wheel_project(old.name) == SOURCE_PACKAGE and old.name != wheel.name:
                old.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_simple_index(pypi_dir)
    wheels = sorted(w.name for w in pypi_dir.glob("*.whl"))
    manifest["pigsalt_source_hash"] = source_hash(tree.root)
    manifest["pypi"]["wheels"] = wheels
    manifest["pypi"]["count"] = len(wheels)
    manifest["pypi"]["bytes"] = tree_size(pypi_dir)
    manifest["total_bytes"] = tree_size(dest)
    _write_manifest(dest, manifest)
