"""Build, check and package the offline repository.

Layout of the repository directory (served as-is at ``http://repo.pigsty/``)::

    apt/                             pigsalt-archive-keyring.gpg (one key signs every release)
    apt/<codename>/                  flat, signed Debian repository of one release: *.deb,
                                     Packages(.gz), Release, InRelease, Release.gpg
    pypi/                            wheelhouse for every release's Python (*.whl) + simple/ (PEP 503)
    manifest.json                    what was built, from which recipe (per release), when

A build happens in a sibling staging directory that replaces ``dest`` only when complete, so
a reader (Nginx, a node's apt) sees the old repository or the new one, never half of one. The
releases that are up to date are hard-linked into the staging directory as they are.
"""

from __future__ import annotations

import configparser
import fcntl
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pigsalt
from pigsalt.agent.wheels import SUMS as WHEEL_SUMS
from pigsalt.debian import BY_CODENAME
from pigsalt.errors import PigsaltError
from pigsalt.fileio import exchange, write_text_atomic
from pigsalt.repo import added as added_mod
from pigsalt.repo import apt as apt_mod
from pigsalt.repo._util import Progress, say, tree_size
from pigsalt.repo.builder import BuilderRoot, ReleaseWheels
from pigsalt.repo.index import PYPI, PackageIndex
from pigsalt.repo.lock import check_lock, lock_changes, lock_requirements, make_lock, pip_resolver
from pigsalt.repo.manifest import (
    KEYRING_NAME,
    MANIFEST,
    MANIFEST_FORMAT,
    ReleasePlan,
    RepoInfo,
    built_releases,
    check_format,
    missing_parts,
    plan_releases,
    read_manifest,
    write_manifest,
)
from pigsalt.repo.pypi import SOURCE_PACKAGE, WheelBuilder, source_hash, wheel_project, write_simple_index
from pigsalt.repo.recipe import BUILDER_VERSION, RECIPE_PATH, Recipe, ReleaseRecipe, load_recipe, recipe_hash
from pigsalt.repo.signing import DEFAULT_KEY_DIR, SigningKey, verify_detached, verify_release
from pigsalt.wheellock import LOCK_PATH, WheelLock, load_lock

DEFAULT_REPO_DIR = Path("/var/lib/pigsalt/repo")
DEFAULT_CACHE_DIR = Path("/var/lib/pigsalt/cache/repo")


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
    current_hashes: dict[str, str] | None = None  # codename → hash now; None without a source checkout
    signature_ok: bool | None = None
    problems: tuple[str, ...] = ()

    def fresh(self, codename: str) -> bool | None:
        """Whether the release was built from the current recipe (None when that cannot be known)."""
        if self.info is None or self.current_hashes is None:
            return None
        return self.current_hashes.get(codename) == self.info.recipe_hashes.get(codename)

    @property
    def up_to_date(self) -> bool:
        """Built, complete, signed, and every release from the current recipe (when that can be known)."""
        if self.info is None or self.problems:
            return False
        return all(self.fresh(codename) is not False for codename in self.info.releases)


def current_recipe_hashes(recipe: Recipe, source: SourceTree, lock: WheelLock | None = None) -> dict[str, str]:
    """The hash each release of ``recipe`` would carry if built now from ``source`` and ``lock``
    (the packaged wheel lock by default), in recipe order."""
    lock = lock or load_lock()
    requires = source.install_requires()
    return {
        codename: recipe_hash(recipe, codename, requires, lock.identity(recipe.release(codename).python_version))
        for codename in recipe.codenames
    }


def check_wheel_lock(
    lock_path: Path = LOCK_PATH, *, recipe_path: Path = RECIPE_PATH, source: Path | None = None
) -> WheelLock:
    """The wheel lock at ``lock_path``, checked against the recipe and the source checkout (see
    ``_checked_lock``); no network."""
    return _checked_lock(load_recipe(recipe_path), SourceTree.find(source), lock_path)


def _checked_lock(recipe: Recipe, source: SourceTree, lock_path: Path = LOCK_PATH) -> WheelLock:
    """The wheel lock at ``lock_path``; an error naming each way it disagrees with the recipe,
    pigsalt's ``install_requires`` or the constraints (``pigsalt repo lock`` writes it anew)."""
    lock = load_lock(lock_path)
    requirements = lock_requirements(recipe, source.install_requires())
    problems = check_lock(lock, recipe, requirements, source.constraints.read_text(encoding="utf-8"))
    if problems:
        raise PigsaltError(f"{lock_path}: does not match the recipe: {'; '.join(problems)}: run `pigsalt repo lock`")
    return lock


def lock_repo(
    *,
    lock_path: Path = LOCK_PATH,
    recipe_path: Path = RECIPE_PATH,
    source: Path | None = None,
    index_url: str | None = None,
    upgrade: bool = False,
    python: str = sys.executable,
    progress: Progress | None = None,
) -> tuple[WheelLock, list[str]]:
    """Resolve the wheel lock anew and write it to ``lock_path``; the lock and what changed.

    ``index_url`` defaults to the current lock's (else PyPI); the current lock's versions are kept
    unless ``upgrade``. ``python`` runs pip (the one running pigsalt by default): it needs the
    index, not root.
    """
    tree = SourceTree.find(source)
    recipe = load_recipe(recipe_path)
    try:
        old: WheelLock | None = load_lock(lock_path)
    except PigsaltError:
        old = None  # none yet, or unreadable: written anew
    index = PackageIndex(index_url or (old.index_url if old else PYPI))
    requirements = lock_requirements(recipe, tree.install_requires())
    with tempfile.TemporaryDirectory(prefix="pigsalt-lock-") as work:
        resolve = pip_resolver(python, index.url, tree.constraints, Path(work))
        lock = make_lock(
            recipe,
            requirements,
            tree.constraints.read_text(encoding="utf-8"),
            resolve=resolve,
            index=index,
            machine=os.uname().machine,
            keep=None if upgrade else old,
            progress=progress,
        )
    problems = check_lock(lock, recipe, requirements, tree.constraints.read_text(encoding="utf-8"))
    if problems:  # what was just resolved disagrees with what it was resolved from: a bug here
        raise PigsaltError(f"lock: the new lock does not match the recipe: {'; '.join(problems)}")
    write_text_atomic(lock_path, lock.render())
    return lock, lock_changes(old, lock)


def read_repo(dest: Path = DEFAULT_REPO_DIR) -> RepoInfo:
    """The repository at ``dest``; an error when none was built there."""
    manifest = read_manifest(dest)
    if manifest is None:
        raise PigsaltError(f"no repository at {dest}: run `pigsalt repo build`")
    return RepoInfo.from_manifest(dest, manifest)


def build_repo(
    dest: Path = DEFAULT_REPO_DIR,
    *,
    releases: Sequence[str] | None = None,
    progress: Progress | None = None,
    force: bool = False,
    recipe_path: Path = RECIPE_PATH,
    lock_path: Path = LOCK_PATH,
    source: Path | None = None,
    key_dir: Path = DEFAULT_KEY_DIR,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> RepoInfo:
    """Build ``releases`` (APT codenames; every release of the recipe by default) at ``dest``.

    They are rebuilt even when up to date: a rebuild re-resolves against the mirror (it picks
    up security updates); the wheels are the lock's (``lock_path``), whatever PyPI serves now.
    The other releases ``dest`` holds are kept when up to date and rebuilt when not. ``force``
    allows replacing a non-empty ``dest`` that is not a pigsalt repository.
    """
    dest = _absolute(dest)
    tree = SourceTree.find(source)
    recipe = load_recipe(recipe_path)
    lock = _checked_lock(recipe, tree, lock_path)
    requested = _requested(recipe, releases)
    with _os_errors(), _locked(dest):
        manifest = _current_manifest(dest)
        wanted = current_recipe_hashes(recipe, tree, lock)
        plan = plan_releases(manifest, wanted, requested, _incomplete(dest, manifest), rebuild=True)
        say(progress, f"repo: building {plan.describe()} at {dest}")
        return _Build(dest, recipe, tree, plan, manifest, key_dir, cache_dir, progress, lock).run(force)


def ensure_repo(
    dest: Path = DEFAULT_REPO_DIR,
    *,
    releases: Sequence[str] = ("bookworm",),
    progress: Progress | None = None,
    recipe_path: Path = RECIPE_PATH,
    lock_path: Path = LOCK_PATH,
    source: Path | None = None,
    key_dir: Path = DEFAULT_KEY_DIR,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> RepoInfo:
    """The repository at ``dest`` holding at least ``releases`` (APT codenames), each up to date.

    Only the releases that are missing, incomplete or from another recipe are built (with the
    other out-of-date ones the repository holds); the others are kept as they are. When only
    pigsalt's own code changed, just its wheel (and the index) is rebuilt.
    """
    dest = _absolute(dest)
    tree = SourceTree.find(source)
    recipe = load_recipe(recipe_path)
    lock = _checked_lock(recipe, tree, lock_path)
    requested = _requested(recipe, releases)
    wanted = current_recipe_hashes(recipe, tree, lock)
    with _os_errors(), _locked(dest):
        manifest = _current_manifest(dest)
        plan = plan_releases(manifest, wanted, requested, _incomplete(dest, manifest))
        if plan.build or manifest is None:
            say(progress, f"repo: {dest}: building {plan.describe()}")
            return _Build(dest, recipe, tree, plan, manifest, key_dir, cache_dir, progress, lock).run(False)
        if manifest.get("pigsalt_source_hash") != source_hash(tree.root):
            _refresh_pigsalt(dest, manifest, recipe, lock, tree, cache_dir, progress)
        if not wheelhouse_signed(dest / "pypi"):
            _resign_wheelhouse(dest, manifest, key_dir, progress)
        info = RepoInfo.from_manifest(dest, manifest)
        held = ", ".join(f"{c} ({len(info.packages[c])} debs)" for c in info.releases)
        say(progress, f"repo: {dest} is up to date: {held}, {len(info.wheels)} wheels")
        return info


def repo_status(dest: Path = DEFAULT_REPO_DIR, source: Path | None = None) -> RepoStatus:
    """Inspect the repository at ``dest``: manifest, completeness, signatures, recipe freshness."""
    dest = _absolute(dest)
    manifest = read_manifest(dest) if dest.is_dir() else None
    if manifest is None:
        return RepoStatus(path=dest, info=None, problems=(f"no repository at {dest}: run `pigsalt repo build`",))
    try:
        info = RepoInfo.from_manifest(dest, manifest)
    except PigsaltError as err:
        return RepoStatus(path=dest, info=None, manifest=manifest, problems=(err.message,))
    problems = [f"missing {part}" for part in sorted({p for ps in missing_parts(dest, manifest).values() for p in ps})]
    signature_ok: bool | None = None
    if not problems:
        signature_ok = True
        for codename in info.releases:
            try:
                verify_release(info.release_dir(codename), info.keyring)
            except PigsaltError as err:
                signature_ok = False
                problems.append(f"{codename}: signature check failed: {err.message}")
        if not wheelhouse_signed(dest / "pypi"):
            signature_ok = False
            problems.append(f"pypi: {WHEEL_SUMS} is missing, stale or unsigned: run `pigsalt repo build`")
        else:
            try:
                verify_detached(dest / "pypi" / WHEEL_SUMS, info.keyring)
            except PigsaltError as err:
                signature_ok = False
                problems.append(f"pypi: signature check failed: {err.message}")
    current: dict[str, str] | None = None
    try:
        current = current_recipe_hashes(load_recipe(), SourceTree.find(source))
    except PigsaltError:
        current = None  # no source checkout here (e.g. on the meta node): freshness is unknown
    return RepoStatus(
        path=dest,
        info=info,
        manifest=manifest,
        current_hashes=current,
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


@dataclass
class _Change:
    """A change in place to a built repository (``add_packages``, ``remove_packages``): under its
    lock, with its manifest and the key that signed it."""

    dest: Path
    manifest: dict[str, Any]
    targets: tuple[str, ...]
    key: SigningKey
    fingerprint: str
    arch: str

    def resign(self, codename: str) -> Path:
        """Index and sign one release again; its directory."""
        apt_dir = self.dest / "apt" / codename
        _index(apt_dir, codename, self.arch)
        self.key.sign_release(apt_dir, self.fingerprint)
        verify_release(apt_dir, self.dest / "apt" / KEYRING_NAME)
        self.manifest["releases"][codename]["apt"]["bytes"] = tree_size(apt_dir)
        return apt_dir


@contextmanager
def _changing(dest: Path, releases: Sequence[str] | None, verb: str, key_dir: Path) -> Iterator[_Change]:
    """The repository at ``dest`` locked for a change to ``releases`` (every release it holds by
    default); the manifest is written when the change ends without an error."""
    if read_manifest(dest) is None:  # before the lock, which would create dest's parent
        raise PigsaltError(f"no repository at {dest}: run `pigsalt repo build` first")
    with _os_errors(), _locked(dest):
        manifest = _current_manifest(dest)
        held = built_releases(manifest)
        if manifest is None or not held:
            raise PigsaltError(f"no repository at {dest}: run `pigsalt repo build` first")
        targets = tuple(releases or held)
        unknown = [c for c in targets if c not in held]
        if unknown:
            raise PigsaltError(f"repo {verb}: {dest} holds {', '.join(held)}, not {', '.join(unknown)}")
        key = SigningKey(key_dir)
        fingerprint = key.fingerprint()
        if fingerprint is None or fingerprint != manifest.get("key_fingerprint"):
            raise PigsaltError(
                f"repo {verb}: the key in {key_dir} did not sign {dest}; rebuild it with `pigsalt repo build`"
            )
        change = _Change(dest, manifest, targets, key, fingerprint, apt_mod.host_architecture())
        yield change
        manifest["total_bytes"] = tree_size(dest)
        write_manifest(dest, manifest)


def add_packages(
    dest: Path,
    files: Sequence[Path],
    *,
    releases: Sequence[str] | None = None,
    progress: Progress | None = None,
    recipe_path: Path = RECIPE_PATH,
    key_dir: Path = DEFAULT_KEY_DIR,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> dict[str, list[str]]:
    """Add the .deb ``files`` to the repository at ``dest`` for ``releases`` (every release it
    holds by default): each release gets them and what installing them needs from its mirror, is
    indexed and signed again, and keeps them through rebuilds (``pigsalt.repo.added``). A file
    that is not a package for this architecture, or a release the repository does not hold,
    changes nothing. Returns, per release, the dependencies that were added with them."""
    dest = _absolute(dest)
    recipe = load_recipe(recipe_path)
    arch = apt_mod.host_architecture()
    with _os_errors():
        debs = [added_mod.inspect(Path(path), arch) for path in files]
    if not debs:
        raise PigsaltError("repo add: name at least one .deb file")
    twice = sorted({d.name for d in debs if sum(e.name == d.name for e in debs) > 1})
    if twice:
        raise PigsaltError(f"repo add: {', '.join(twice)} given more than once")
    with _changing(dest, releases, "add", key_dir) as change:
        # Every release is resolved before any is changed: one that cannot take them changes nothing.
        plans: dict[str, tuple[apt_mod.AptWorkspace, list[apt_mod.Deb]]] = {}
        for codename in change.targets:
            workspace = apt_mod.AptWorkspace(cache_dir / "apt" / codename, recipe.release(codename), arch)
            workspace.prepare()
            say(progress, f"apt [{codename}]: updating package lists")
            workspace.update()
            closure = change.manifest["releases"][codename]["apt"]["packages"]
            plans[codename] = (workspace, added_mod.plan(workspace, debs, closure))
        added: dict[str, list[str]] = {}
        for codename, (workspace, extra) in plans.items():
            apt_dir = dest / "apt" / codename
            before = {path.name for path in apt_dir.glob("*.deb")}
            say(progress, f"apt [{codename}]: adding {', '.join(f'{d.name} {d.version}' for d in debs)}")
            added_mod.link(workspace, apt_dir, debs, extra)
            store = added_mod.added_dir(dest) / codename
            added_mod.keep(debs, store)
            entry = change.manifest["releases"][codename]
            entry["apt"]["added"] = [f"{d.name}={d.version}" for d in added_mod.held(store, arch)]
            deps = dict(entry["apt"].get("added_dependencies") or {})
            deps.update({d.name: sorted(e.filename for e in extra) for d in debs})
            entry["apt"]["added_dependencies"] = deps
            change.resign(codename)
            added[codename] = [f"{d.name}={d.version}" for d in extra if d.filename not in before]
            say(progress, f"apt [{codename}]: indexed and signed; {len(added[codename])} dependencies added with them")
    return added


def remove_packages(
    dest: Path,
    names: Sequence[str],
    *,
    releases: Sequence[str] | None = None,
    progress: Progress | None = None,
    key_dir: Path = DEFAULT_KEY_DIR,
) -> dict[str, list[str]]:
    """Remove packages added with ``add_packages`` (by name) from ``releases`` (every release
    holding them by default), with the dependencies they brought that no other added package
    needs; each release changed is indexed and signed again. A name that was not added changes
    nothing. Returns, per release, the packages removed."""
    dest = _absolute(dest)
    with _changing(dest, releases, "remove", key_dir) as change:
        stores = {c: added_mod.held(added_mod.added_dir(dest) / c, change.arch) for c in change.targets}
        present = {d.name for debs in stores.values() for d in debs}
        absent = [name for name in names if name not in present]
        if absent:
            where = ", ".join(sorted(present)) or "nothing"
            raise PigsaltError(f"repo remove: {', '.join(absent)} not added with pigsalt repo add (added: {where})")
        removed: dict[str, list[str]] = {}
        for codename, debs in stores.items():
            going = [d for d in debs if d.name in names]
            if not going:
                continue
            entry = change.manifest["releases"][codename]
            deps = dict(entry["apt"].get("added_dependencies") or {})
            gone = {f for d in going for f in deps.pop(d.name, [])} - {f for files in deps.values() for f in files}
            for filename in [d.filename for d in going] + sorted(gone):
                (dest / "apt" / codename / filename).unlink(missing_ok=True)
            for deb in going:
                deb.path.unlink()
            entry["apt"]["added"] = [f"{d.name}={d.version}" for d in debs if d.name not in names]
            entry["apt"]["added_dependencies"] = deps
            change.resign(codename)
            removed[codename] = [f"{d.name}={d.version}" for d in going]
            say(progress, f"apt [{codename}]: removed {', '.join(removed[codename])}; indexed and signed")
    return removed


# --- internals -------------------------------------------------------------------------------


def _index(apt_dir: Path, codename: str, arch: str) -> None:
    """``Packages`` and the unsigned ``Release`` of one release's directory."""
    apt_mod.write_packages_index(apt_dir)
    number = BY_CODENAME[codename].number
    description = f"pigsalt {pigsalt.__version__} offline repository for Debian {number} ({codename})"
    text = apt_mod.release_text(apt_dir, architecture=arch, codename=codename, description=description)
    write_text_atomic(apt_dir / "Release", text)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _requested(recipe: Recipe, releases: Sequence[str] | None) -> tuple[str, ...]:
    """The codenames asked for, checked against the recipe (all of it when None)."""
    if releases is None:
        return recipe.codenames
    if isinstance(releases, str):
        raise TypeError("releases is a sequence of codenames, not a string")
    if not releases:
        raise PigsaltError(f"repo: name at least one release to build ({', '.join(recipe.codenames)})")
    return tuple(recipe.release(codename).codename for codename in releases)


def _current_manifest(dest: Path) -> dict[str, Any] | None:
    """The manifest at ``dest``; one in an older format counts as none (it is rebuilt whole)."""
    manifest = read_manifest(dest) if dest.is_dir() else None
    if manifest is not None:
        try:
            check_format(dest, manifest)
        except PigsaltError:
            return {"format": manifest.get("format")}
    return manifest


def _incomplete(dest: Path, manifest: Mapping[str, Any] | None) -> set[str]:
    return {codename for codename, parts in missing_parts(dest, manifest).items() if parts}


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


@dataclass(frozen=True)
class _Wheels:
    """The wheels built for one release's Python, and how to check the finished wheelhouse for it."""

    directory: Path
    names: list[str]
    python_version: str
    check: Callable[[Path], None]  # pip install --dry-run from the wheelhouse alone, on that Python


@dataclass
class _Build:
    """One build of the repository at ``dest``: what ``plan`` says, into a staging directory."""

    dest: Path
    recipe: Recipe
    tree: SourceTree
    plan: ReleasePlan
    old: Mapping[str, Any] | None
    key_dir: Path
    cache_dir: Path
    progress: Progress | None
    lock: WheelLock = field(default_factory=load_lock)

    def __post_init__(self) -> None:
        self.kept = built_releases(self.old)
        self.host = WheelBuilder(self.cache_dir, self.recipe.python)
        self.work = self.cache_dir / "work"
        self.building = [self.recipe.release(codename) for codename in self.plan.build]
        # Per release, the dependencies of the packages added with `pigsalt repo add`, by package.
        self.added_deps: dict[str, dict[str, list[str]]] = {}

    def run(self, force: bool) -> RepoInfo:
        started = time.monotonic()
        dest = self.dest
        _check_places(dest, force, self.key_dir, self.cache_dir)
        machine = os.uname().machine
        for release in self.building:
            part = self.lock.python(release.python_version)
            if part.machine != machine:
                raise PigsaltError(
                    f"the wheel lock holds {part.machine} wheels for Python {part.python}, this machine is {machine}: "
                    "run `pigsalt repo lock` here"
                )
        if self.plan.drop:
            say(self.progress, f"repo: dropping {', '.join(self.plan.drop)}: no longer in the recipe")
        for leftover in dest.parent.glob(f".{dest.name}.build-*"):
            shutil.rmtree(leftover, ignore_errors=True)  # from an interrupted build (we hold the lock)
        staging = dest.parent / f".{dest.name}.build-{os.getpid()}"
        try:
            staging.mkdir(parents=True)
            os.chmod(staging, 0o755)
            apt_root, pypi_dir = staging / "apt", staging / "pypi"
            pypi_dir.mkdir(parents=True)
            shutil.rmtree(self.work, ignore_errors=True)
            self.work.mkdir(parents=True)
            for codename in self.plan.keep:
                _link_tree(dest / "apt" / codename, apt_root / codename)
                for name in self.kept[codename]["pypi"]["wheels"]:
                    apt_mod.link_or_copy(dest / "pypi" / name, pypi_dir / name)
            arch = apt_mod.host_architecture()
            builders = {r.codename: BuilderRoot(self.cache_dir, r, self.recipe.builder_packages) for r in self.building}

            # The Debian halves (apt's resolver is CPU, the download network) and the Python half
            # (compiling timelib is CPU) run side by side: on two cores that halves a cold build.
            # The roots that compile each release's sdists are made meanwhile (cached).
            def debian() -> dict[str, list[apt_mod.Deb]]:
                return {r.codename: self.debian_half(r, apt_root / r.codename, arch) for r in self.building}

            with ThreadPoolExecutor(max_workers=2 + len(builders)) as pool:
                ready = {c: (b, pool.submit(b.ensure, self.progress)) for c, b in builders.items()}
                debian_half = pool.submit(debian)
                python_half = pool.submit(self.python_half, ready)
                debs, (built, pigsalt_wheel) = debian_half.result(), python_half.result()

            # The wheelhouse: the kept releases' wheels (linked above), the new ones, one pigsalt.
            for wheels in built.values():
                for name in wheels.names:
                    apt_mod.link_or_copy(wheels.directory / name, pypi_dir / name)
            apt_mod.link_or_copy(pigsalt_wheel, pypi_dir / pigsalt_wheel.name)
            for stale in pypi_dir.glob("*.whl"):
                if wheel_project(stale.name) == SOURCE_PACKAGE and stale.name != pigsalt_wheel.name:
                    stale.unlink()
            write_simple_index(pypi_dir)
            for wheels in built.values():
                wheels.check(pypi_dir)
            checked = ", ".join(f"{c} (Python {w.python_version})" for c, w in built.items())
            say(self.progress, f"pypi: the wheelhouse installs pigsalt and its requirements offline on {checked}")

            codenames = [c for c in self.recipe.codenames if c in self.plan.keep or c in self.plan.build]
            fingerprint = self.sign(apt_root, codenames, pypi_dir)
            manifest = self.manifest(staging, codenames, arch, fingerprint, debs, built, pigsalt_wheel.name)
            manifest["build_seconds"] = round(time.monotonic() - started, 1)
            write_manifest(staging, manifest)
            _swap(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        info = RepoInfo.from_manifest(dest, manifest)
        held = ", ".join(f"{c} ({len(info.packages[c])} debs)" for c in info.releases)
        say(
            self.progress,
            f"repo: built {', '.join(self.plan.build)} in {manifest['build_seconds']:.0f} s; {dest} holds {held}, "
            f"{len(info.wheels)} wheels, {info.total_bytes / 1e6:.0f} MB",
        )
        return info

    def debian_half(self, release: ReleaseRecipe, apt_dir: Path, arch: str) -> list[apt_mod.Deb]:
        """``apt/<codename>/`` but its signature: the closure, downloaded, indexed, described."""
        codename = release.codename
        workspace = apt_mod.AptWorkspace(self.cache_dir / "apt" / codename, release, arch)
        workspace.prepare()
        sources = ", ".join(f"{s.uri} {' '.join(s.suites)}" for s in release.effective_sources())
        say(self.progress, f"apt [{codename}]: updating package lists ({sources})")
        workspace.update()
        debs = workspace.cached_resolution(release.packages)
        if debs is None:
            say(self.progress, f"apt [{codename}]: resolving {len(release.packages)} packages with their dependencies")
            debs = workspace.resolve(release.packages)
        else:
            say(self.progress, f"apt [{codename}]: the lists are those of the last build: its closure is reused")
        absent = workspace.absent(debs)
        say(self.progress, f"apt [{codename}]: {len(debs)} packages in the closure; downloading {len(absent)}")
        workspace.download(absent)
        workspace.collect(debs, apt_dir)
        added = added_mod.held(added_mod.added_dir(self.dest) / codename, arch)
        if added:
            say(self.progress, f"apt [{codename}]: adding {', '.join(d.name for d in added)} (pigsalt repo add)")
            closure = [f"{deb.name}={deb.version}" for deb in debs]
            extra = sorted(d.filename for d in added_mod.include(workspace, apt_dir, added, closure))
            self.added_deps[codename] = {d.name: extra for d in added}
        say(self.progress, f"apt [{codename}]: indexing (dpkg-scanpackages)")
        _index(apt_dir, codename, arch)
        return debs

    def python_half(self, roots: Mapping[str, tuple[BuilderRoot, Future[Path]]]) -> tuple[dict[str, _Wheels], Path]:
        """The wheels of each release built, and pigsalt's fresh wheel.

        Each release's Python gets the lock's files, its sdists compiled in a root of that
        release; a pure wheel compiled for one release, or kept in the repository, serves the
        next as it is (one file per name in the wheelhouse).
        """
        version = self.host.prepare()
        index = PackageIndex(self.lock.index_url)
        shared: dict[str, Path] = {
            name: self.dest / "pypi" / name
            for codename in self.plan.keep
            for name in self.kept[codename]["pypi"]["wheels"]
            if wheel_project(name) != SOURCE_PACKAGE
        }
        built: dict[str, _Wheels] = {}
        for release in self.building:
            root, ready = roots[release.codename]
            ready.result()
            wheels = ReleaseWheels(
                release,
                self.lock.python(release.python_version),
                index=index,
                requirements=self.recipe.requirements,
                host=self.host,
                root=root,
                work=self.work / f"builder-{release.codename}",
                sdist_cache=self.cache_dir / "sdists",
                progress=self.progress,
            )
            root_version = wheels.python_version()
            out = self.work / f"wheels-{release.codename}"
            names = wheels.build(shared, out)
            shared.update({name: out / name for name in names})
            built[release.codename] = _Wheels(out, names, root_version, wheels.check)
            say(self.progress, f"pypi: {len(names)} wheels for {wheels.label}")
        links = pigsalt_build_links(self.host, self.lock, version, self.work / "pigsalt-links")
        pigsalt_wheel = self.host.build_pigsalt(self.tree.root, self.work / "pigsalt", self.work, links)
        return built, pigsalt_wheel

    def sign(self, apt_root: Path, codenames: Sequence[str], pypi_dir: Path) -> str:
        """Sign every release's Release (the kept ones too: one key for all) and the wheelhouse's
        SHA256SUMS, export and check the keyring."""
        say(self.progress, f"apt: signing {', '.join(codenames)} and the wheelhouse's {WHEEL_SUMS}")
        key = SigningKey(self.key_dir)
        fingerprint = key.ensure(self.progress)
        keyring = apt_root / KEYRING_NAME
        key.export_keyring(fingerprint, keyring)
        for codename in codenames:
            key.sign_release(apt_root / codename, fingerprint)
            verify_release(apt_root / codename, keyring)
        sign_wheelhouse(pypi_dir, key, fingerprint, keyring)
        return fingerprint

    def manifest(
        self,
        staging: Path,
        codenames: Sequence[str],
        arch: str,
        fingerprint: str,
        debs: Mapping[str, list[apt_mod.Deb]],
        built: Mapping[str, _Wheels],
        pigsalt_wheel: str,
    ) -> dict[str, Any]:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        hashes = current_recipe_hashes(self.recipe, self.tree)
        releases: dict[str, Any] = {}
        for codename in codenames:
            if codename in self.plan.keep:
                entry = dict(self.kept[codename])
                entry["pypi"] = {**entry["pypi"], "wheels": _with_pigsalt(entry["pypi"]["wheels"], pigsalt_wheel)}
                releases[codename] = entry
                continue
            part = self.recipe.release(codename)
            wheels = _with_pigsalt(built[codename].names, pigsalt_wheel)
            releases[codename] = {
                "recipe_hash": hashes[codename],
                "python": part.python_version,
                "python_version": built[codename].python_version,
                "built_at": now,
                "apt": {
                    "requested": list(part.packages),
                    "groups": {group: list(names) for group, names in part.groups},
                    "include_minbase": part.include_minbase,
                    "count": len(debs[codename]),
                    "bytes": tree_size(staging / "apt" / codename),
                    "packages": [f"{deb.name}={deb.version}" for deb in debs[codename]],
                    "added": [
                        f"{d.name}={d.version}" for d in added_mod.held(added_mod.added_dir(self.dest) / codename, arch)
                    ],
                    "added_dependencies": self.added_deps.get(codename, {}),
                },
                "pypi": {"wheels": wheels, "count": len(wheels)},
            }
        all_wheels = sorted(w.name for w in (staging / "pypi").glob("*.whl"))
        return {
            "format": MANIFEST_FORMAT,
            "builder_version": BUILDER_VERSION,
            "pigsalt_version": pigsalt.__version__,
            "pigsalt_source_hash": source_hash(self.tree.root),
            "salt_version": self.recipe.salt_version,
            "architecture": arch,
            "key_fingerprint": fingerprint,
            "built_at": now,
            "built": list(self.plan.build),
            "build_seconds": 0.0,
            "releases": releases,
            "pypi": {
                "requirements": list(self.recipe.requirements),
                "count": len(all_wheels),
                "bytes": tree_size(staging / "pypi"),
                "wheels": all_wheels,
            },
            "total_bytes": tree_size(staging),
        }


def _python_xy(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _with_pigsalt(wheels: Sequence[str], pigsalt_wheel: str) -> list[str]:
    """A release's wheel list with pigsalt's wheel being the current one."""
    others = [name for name in wheels if wheel_project(name) != SOURCE_PACKAGE]
    return sorted([*others, pigsalt_wheel])


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (or copy) the files of ``src`` into ``dst`` (a kept release's directory)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.is_file():
            apt_mod.link_or_copy(path, dst / path.name)


def _swap(staging: Path, dest: Path) -> None:
    """Put the finished ``staging`` in place of ``dest``'s contents, ``dest`` itself staying.

    ``dest`` keeps its inode: a bind mount of it (the sandbox's meta node serves the repository
    through one) or a server whose root it is sees the new repository, not a deleted one. Each
    entry trades places with the old one in one step (``renameat2`` RENAME_EXCHANGE; where the
    file system cannot, the old entry is moved aside first, absent for an instant); the manifest
    comes last, so a reader that sees the new manifest finds everything it names. ``staging``
    ends up holding the old entries and is removed.
    """
    dest.mkdir(parents=True, exist_ok=True)
    entries = sorted(staging.iterdir(), key=lambda p: (p.name == MANIFEST, p.name))
    for entry in entries:
        target = dest / entry.name
        if not target.exists() and not target.is_symlink():
            entry.rename(target)
        elif not exchange(entry, target):
            aside = staging / f".{entry.name}.old"
            target.rename(aside)
            entry.rename(target)
    kept = {entry.name for entry in entries}
    for stale in dest.iterdir():
        if stale.name not in kept:
            stale.rename(staging / f".{stale.name}.stale")
    dest.chmod(staging.stat().st_mode & 0o7777)
    shutil.rmtree(staging, ignore_errors=True)


def wheel_sums(pypi_dir: Path) -> str:
    """``sha256sum``'s format for every wheel of ``pypi_dir``, sorted by name."""
    lines = []
    for wheel in sorted(pypi_dir.glob("*.whl")):
        digest = hashlib.sha256()
        with wheel.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        lines.append(f"{digest.hexdigest()}  {wheel.name}\n")
    return "".join(lines)


def wheelhouse_signed(pypi_dir: Path) -> bool:
    """Whether ``SHA256SUMS`` lists exactly the wheels there, as they are, and has a signature."""
    sums = pypi_dir / WHEEL_SUMS
    if not sums.is_file() or not (pypi_dir / (WHEEL_SUMS + ".gpg")).is_file():
        return False
    return sums.read_text(encoding="utf-8") == wheel_sums(pypi_dir)


def sign_wheelhouse(pypi_dir: Path, key: SigningKey, fingerprint: str, keyring: Path) -> None:
    """Write ``SHA256SUMS`` of the wheels and its detached signature; check it as nodes do."""
    sums = pypi_dir / WHEEL_SUMS
    write_text_atomic(sums, wheel_sums(pypi_dir))
    key.sign_detached(sums, fingerprint)
    verify_detached(sums, keyring)


def _resign_wheelhouse(dest: Path, manifest: Mapping[str, Any], key_dir: Path, progress: Progress | None) -> None:
    """Sign the wheelhouse's current SHA256SUMS with the key that signed the repository."""
    key = SigningKey(key_dir)
    fingerprint = key.fingerprint()
    if not fingerprint or fingerprint != manifest.get("key_fingerprint"):
        raise PigsaltError(
            f"{dest}/pypi: its {WHEEL_SUMS} must be signed again, but the key that signed the repository "
            f"({manifest.get('key_fingerprint') or 'unknown'}) is not in {key_dir}: run `pigsalt repo build --force`"
        )
    say(progress, f"pypi: signing the wheelhouse's {WHEEL_SUMS}")
    sign_wheelhouse(dest / "pypi", key, fingerprint, dest / "apt" / KEYRING_NAME)


def pigsalt_build_links(host: WheelBuilder, lock: WheelLock, version: str, dest: Path) -> Path:
    """The lock's pure build requirements (setuptools, wheel...) for the host's Python ``version``
    (or the first Python of the lock: pure wheels serve any), in ``dest``: pigsalt's own wheel is
    built from them, offline."""
    xy = _python_xy(version)
    part = next((p for p in lock.pythons if p.python == xy), lock.pythons[0])
    pure = [f for f in part.build if f.file.endswith("-none-any.whl")]
    host.download(pure, part, lock.index_url, dest, f"Python {xy} (pigsalt's build)")
    return dest


def _refresh_pigsalt(
    dest: Path,
    manifest: dict[str, Any],
    recipe: Recipe,
    lock: WheelLock,
    tree: SourceTree,
    cache_dir: Path,
    progress: Progress | None,
) -> None:
    """Replace only pigsalt's wheel (its code changed, its dependencies did not): it is pure, shared by all."""
    say(progress, "pypi: pigsalt's source changed: rebuilding its wheel")
    pypi_dir = dest / "pypi"
    work = cache_dir / "work"
    try:
        builder = WheelBuilder(cache_dir, recipe.python)
        version = builder.prepare()
        links = pigsalt_build_links(builder, lock, version, work / "pigsalt-links")
        wheel = builder.build_pigsalt(tree.root, pypi_dir, work, links)
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
    for entry in manifest["releases"].values():
        entry["pypi"]["wheels"] = _with_pigsalt(entry["pypi"]["wheels"], wheel.name)
    manifest["pigsalt_source_hash"] = source_hash(tree.root)
    manifest["pypi"]["wheels"] = wheels
    manifest["pypi"]["count"] = len(wheels)
    manifest["pypi"]["bytes"] = tree_size(pypi_dir)
    manifest["total_bytes"] = tree_size(dest)
    write_manifest(dest, manifest)
