"""``pigsalt repo lock``: resolve the wheel lock (``pigsalt/data/wheels.lock``), and check a lock
against the recipe.

What the wheelhouse holds is decided here, once, and committed; a build fetches exactly that. The
requirements are the recipe's ``pypi.requirements`` and pigsalt's own ``install_requires``, under
``requirements/constraints.txt``, for every Python a release of the recipe runs.

pip resolves them once, on the Python running this command: ``pip install --dry-run
--ignore-installed --report`` against the index, over HTTPS (an sdist's metadata is prepared by
that pip, as the user running the command: no root). pip evaluates environment markers for the
interpreter it runs on only (``--python-version`` changes the tags and Requires-Python it checks,
not the markers, and is refused for a resolve that meets an sdist), so each target Python's set
is the closure of the requirements through the resolved distributions' ``Requires-Dist`` under
that Python's markers (``closure``); a distribution only another Python's markers pull in is
resolved again with it. Each distribution's file is then the one pip picks on that Python: the
wheel whose tags come first in its order of preference (``supported_tags``), else the sdist,
from the index's JSON listing with its SHA-256.

The versions of the current lock are kept (they are given to pip as constraints) unless
``upgrade`` lets them move: changing a build requirement does not upgrade Patroni behind your back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pigsalt.debian import GLIBC
from pigsalt.errors import PigsaltError
from pigsalt.repo._util import Progress, last_line, run, say
from pigsalt.repo.index import IndexFile, PackageIndex
from pigsalt.repo.pypi import manylinux_platforms, pip_env
from pigsalt.repo.recipe import Recipe
from pigsalt.wheellock import LockedFile, PythonLock, WheelLock

#: How many times a Python's markers may name distributions the resolve lacks before giving up.
MAX_ROUNDS = 3
#: The glibc assumed for a release pigsalt.debian does not know (manylinux2014's).
DEFAULT_GLIBC = (2, 17)

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Resolved:
    """One distribution pip chose: its version and what it requires (markers kept)."""

    name: str  # normalized
    version: str
    requires: tuple[str, ...] = ()


#: Resolve requirements (with extra ``name==version`` constraints) → the distributions pip chose, by name.
Resolve = Callable[[Sequence[str], Sequence[str]], dict[str, Resolved]]


def parse_report(data: Mapping[str, Any]) -> dict[str, Resolved]:
    """The distributions of a ``pip install --dry-run --report`` (format 1), by normalized name."""
    try:
        found: dict[str, Resolved] = {}
        for item in data["install"]:
            metadata = item["metadata"]
            name = canonicalize_name(metadata["name"])
            found[name] = Resolved(name, str(metadata["version"]), tuple(metadata.get("requires_dist") or ()))
        return found
    except (KeyError, TypeError) as err:
        raise PigsaltError(f"pip's installation report is not what pigsalt reads ({err!r})") from err


def pip_resolver(python: str, index_url: str, constraints: Path, work: Path) -> Resolve:
    """A ``Resolve`` that runs ``python -m pip install --dry-run --report`` against ``index_url`` alone."""

    def resolve(requirements: Sequence[str], pins: Sequence[str]) -> dict[str, Resolved]:
        report, kept = work / "report.json", work / "kept.txt"
        kept.write_text("".join(f"{pin}\n" for pin in pins), encoding="utf-8")
        args = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        args += ["--index-url", index_url, "--constraint", str(constraints), "--constraint", str(kept), *requirements]
        proc = run(args, env=pip_env(), what="pip install --dry-run", timeout=1800, check=False)
        if proc.returncode != 0:
            raise PigsaltError(
                f"pip could not resolve {', '.join(requirements)}: {last_line(proc.stderr or proc.stdout)}"
            )
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise PigsaltError(f"pip wrote no readable report ({err}): pip 22.2 or newer is needed") from err
        return parse_report(data)

    return resolve


# --- what each Python needs ----------------------------------------------------------------------


def lock_requirements(recipe: Recipe, install_requires: str) -> list[str]:
    """What the wheelhouse must install: the recipe's requirements, then pigsalt's own (setup.cfg)."""
    requirements = list(recipe.requirements)
    for line in install_requires.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and line not in requirements:
            requirements.append(line)
    return requirements


def lock_targets(recipe: Recipe, machine: str) -> dict[str, str]:
    """Each Python a release of the recipe runs → the manylinux platform all those releases take
    (the oldest glibc among them), oldest Python first."""
    glibc: dict[str, tuple[int, int]] = {}
    for release in recipe.releases:
        mine = GLIBC.get(release.codename, DEFAULT_GLIBC)
        glibc[release.python_version] = min(glibc.get(release.python_version, mine), mine)
    ordered = sorted(glibc, key=lambda python: tuple(int(p) for p in python.split(".")))
    return {python: f"manylinux_{glibc[python][0]}_{glibc[python][1]}_{machine}" for python in ordered}


def marker_environment(python: str, machine: str) -> dict[str, str]:
    """PEP 508's marker variables on a Debian node running CPython ``python`` (X.Y, taken as X.Y.0)."""
    full = f"{python}.0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": python,
        "sys_platform": "linux",
    }


@dataclass(frozen=True)
class Closure:
    """The distributions some requirements need on one Python, and those the pool lacks."""

    names: tuple[str, ...]  # normalized, sorted
    missing: tuple[str, ...]  # requirements (markers dropped) no distribution of the pool answers


def closure(requirements: Iterable[str], pool: Mapping[str, Resolved], env: Mapping[str, str], label: str) -> Closure:
    """Follow ``requirements`` through ``pool``'s Requires-Dist, markers evaluated in ``env``.

    A distribution is followed again when it is asked for with an extra it was not followed with
    (``patroni`` then ``patroni[etcd3]``). A pool version that does not satisfy a requirement
    this Python has is an error: the pool was resolved for another Python's markers.
    """
    pending: list[tuple[str, tuple[str, ...]]] = [(text, ()) for text in requirements]
    followed: dict[str, set[str]] = {}
    missing: dict[str, None] = {}
    while pending:
        text, extras_of_parent = pending.pop()
        req = _requirement(text)
        if req.marker is not None and not any(
            req.marker.evaluate({**env, "extra": extra}) for extra in ("", *extras_of_parent)
        ):
            continue
        name = canonicalize_name(req.name)
        dist = pool.get(name)
        if dist is None:
            req.marker = None
            missing.setdefault(str(req), None)
            continue
        if not req.specifier.contains(dist.version, prereleases=True):
            raise PigsaltError(
                f"{label} needs {text}, but the resolve chose {name} {dist.version} (for another Python's markers)"
            )
        extras = {canonicalize_name(e) for e in req.extras}
        if name in followed and extras <= followed[name]:
            continue
        followed.setdefault(name, set()).update(extras)
        context = tuple(sorted(followed[name]))
        pending += [(dep, context) for dep in dist.requires]
    return Closure(tuple(sorted(followed)), tuple(missing))


# --- which file ---------------------------------------------------------------------------------


def supported_tags(python: str, platform: str) -> list[Tag]:
    """The wheel tags CPython ``python`` takes on ``platform`` (manylinux_<glibc>_<machine>), in
    pip's order of preference: its own ABI, abi3, none; newest platform first; pure last."""
    match = re.match(r"^manylinux_(\d+)_(\d+)_(.+)$", platform)
    if match is None:
        raise PigsaltError(f"not a manylinux platform: {platform}")
    platforms = list(manylinux_platforms((int(match.group(1)), int(match.group(2))), match.group(3)))
    major, minor = (int(part) for part in python.split("."))
    interpreter = f"cp{major}{minor}"
    return [
        *cpython_tags((major, minor), abis=[interpreter], platforms=platforms),
        *compatible_tags((major, minor), interpreter=interpreter, platforms=platforms),
    ]


def choose_file(
    files: Iterable[IndexFile], name: str, version: str, python: str, tags: Sequence[Tag]
) -> IndexFile | None:
    """The file of ``name`` ``version`` pip would take on CPython ``python``: the wheel whose best
    tag ranks first in ``tags``, else an sdist (.tar.gz before .zip); never a yanked file, nor one
    whose Requires-Python excludes ``python``."""
    rank: dict[Tag, int] = {}
    for index, tag in enumerate(tags):
        rank.setdefault(tag, index)
    wanted = Version(version)
    candidates: list[tuple[tuple[int, int], str, IndexFile]] = []
    for item in files:
        if item.yanked or not _admits(item.requires_python, python):
            continue
        try:
            if item.filename.endswith(".whl"):
                project, found, _, wheel_tags = parse_wheel_filename(item.filename)
                score = min((rank[tag] for tag in wheel_tags if tag in rank), default=None)
                if score is None:
                    continue
                key = (0, score)
            else:
                project, found = parse_sdist_filename(item.filename)
                key = (1, 0 if item.filename.endswith(".tar.gz") else 1)
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if project == name and found == wanted:
            candidates.append((key, item.filename, item))
    return min(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None


def locked_file(item: IndexFile) -> LockedFile:
    """The lock's entry for a file of the index (name and version spelled as in its file name)."""
    if item.filename.endswith(".whl"):
        name, version = canonicalize_name(item.filename.split("-")[0]), item.filename.split("-")[1]
        return LockedFile(name, version, item.filename, item.sha256)
    stem = item.filename.removesuffix(".tar.gz").removesuffix(".zip")
    project, _, version = stem.rpartition("-")
    return LockedFile(canonicalize_name(project), version, item.filename, item.sha256, url=item.url)


def _admits(requires_python: str | None, python: str) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(f"{python}.0", prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores an invalid Requires-Python too


# --- the lock -----------------------------------------------------------------------------------


def make_lock(
    recipe: Recipe,
    requirements: Sequence[str],
    constraints_text: str,
    *,
    resolve: Resolve,
    index: PackageIndex,
    machine: str,
    keep: WheelLock | None = None,
    progress: Progress | None = None,
) -> WheelLock:
    """The lock of ``requirements`` and the recipe's build requirements, for every Python of ``recipe``.

    ``keep``: the current lock, whose versions are kept where the requirements and constraints allow.
    """
    targets = lock_targets(recipe, machine)
    pins = (
        kept_pins(keep, [*requirements, *recipe.build_requirements], constraint_pins(constraints_text)) if keep else []
    )
    say(progress, f"lock: resolving {len(requirements)} requirements with pip ({len(pins)} versions kept)")
    pool = _resolve(resolve, requirements, pins)
    build_pool = _resolve(resolve, recipe.build_requirements, pins)
    plans: dict[str, tuple[dict[str, Resolved], Closure, Closure]] = {}
    for python in targets:
        env = marker_environment(python, machine)
        label = f"Python {python}"
        mine = pool
        for _ in range(MAX_ROUNDS):
            needed = closure(requirements, mine, env, label)
            if not needed.missing:
                break
            say(progress, f"lock: {label} also needs {', '.join(needed.missing)}: resolving again with it")
            mine = _resolve(resolve, [*requirements, *needed.missing], pins)
        else:
            raise PigsaltError(f"lock: {label} still needs {', '.join(needed.missing)} after {MAX_ROUNDS} resolves")
        building = closure(recipe.build_requirements, build_pool, env, label)
        if building.missing:
            raise PigsaltError(f"lock: the build requirements on {label} need {', '.join(building.missing)}")
        plans[python] = (mine, needed, building)
    names = sorted({n for _, needed, building in plans.values() for n in (*needed.names, *building.names)})
    say(progress, f"lock: reading the files of {len(names)} projects from {index.url}")
    with ThreadPoolExecutor(max_workers=8) as workers:
        listings = dict(zip(names, workers.map(index.files, names), strict=True))
    parts = []
    for python, (mine, needed, building) in plans.items():
        tags = supported_tags(python, targets[python])
        install = _pick(needed.names, mine, listings, python, tags, index.url)
        build = _pick(building.names, build_pool, listings, python, tags, index.url)
        parts.append(PythonLock(python, targets[python], install, build))
    return WheelLock(index.url, tuple(parts))


def _pick(
    names: Iterable[str],
    pool: Mapping[str, Resolved],
    listings: Mapping[str, Sequence[IndexFile]],
    python: str,
    tags: Sequence[Tag],
    where: str,
) -> tuple[LockedFile, ...]:
    """The locked file of each of ``names`` at its ``pool`` version, for CPython ``python``."""
    files = []
    for name in names:
        chosen = choose_file(listings[name], name, pool[name].version, python, tags)
        if chosen is None:
            raise PigsaltError(f"lock: {where} has no file of {name} {pool[name].version} for Python {python}")
        files.append(locked_file(chosen))
    return tuple(files)


def _resolve(resolve: Resolve, requirements: Sequence[str], pins: Sequence[str]) -> dict[str, Resolved]:
    try:
        return resolve(requirements, pins)
    except PigsaltError as err:
        if not pins:
            raise
        raise PigsaltError(
            f"{err.message} (with the current lock's versions kept: `pigsalt repo lock --upgrade` lets them move)"
        ) from err


def constraint_pins(text: str) -> dict[str, str]:
    """The ``name==version`` lines of a constraints file, by normalized name."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def kept_pins(keep: WheelLock, requirements: Sequence[str], constrained: Mapping[str, str]) -> list[str]:
    """``name==version`` for every distribution of ``keep`` locked at one version for every Python,
    unless the constraints pin it (they win) or a requirement no longer admits that version."""
    versions: dict[str, set[str]] = {}
    for part in keep.pythons:
        for locked in (*part.install, *part.build):
            versions.setdefault(locked.name, set()).add(locked.version)
    specifiers: dict[str, list[SpecifierSet]] = {}
    for text in requirements:
        req = _requirement(text)
        specifiers.setdefault(canonicalize_name(req.name), []).append(req.specifier)
    pins = []
    for name, found in sorted(versions.items()):
        if len(found) != 1 or name in constrained:
            continue
        (version,) = found
        if all(spec.contains(version, prereleases=True) for spec in specifiers.get(name, [])):
            pins.append(f"{name}=={version}")
    return pins


def check_lock(lock: WheelLock, recipe: Recipe, requirements: Sequence[str], constraints_text: str) -> list[str]:
    """What makes ``lock`` disagree with the recipe, pigsalt's requirements and the constraints:
    a Python no release runs or one missing, another glibc, a requirement (or build requirement)
    the lock does not satisfy on a Python, a version the constraints pin otherwise. Pure: no network."""
    problems: list[str] = []
    runs: dict[str, list[str]] = {}
    for release in recipe.releases:
        runs.setdefault(release.python_version, []).append(release.codename)
    pinned = constraint_pins(constraints_text)
    for part in lock.pythons:
        if part.python not in runs:
            problems.append(f"Python {part.python}: no release of the recipe runs it")
    for python, codenames in runs.items():
        label = f"Python {python}"
        try:
            part = lock.python(python)
        except PigsaltError:
            problems.append(f"{label} ({', '.join(codenames)}): not in the lock")
            continue
        expected = lock_targets(recipe, part.machine)[python]
        if part.platform != expected:
            problems.append(f"{label}: locked for {part.platform}, its releases take {expected}")
        env = marker_environment(python, part.machine)
        for section, wanted in (("install", requirements), ("build", recipe.build_requirements)):
            files = {f.name: f for f in (part.install if section == "install" else part.build)}
            for text in wanted:
                req = _requirement(text)
                if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                    continue
                found = files.get(canonicalize_name(req.name))
                if found is None:
                    problems.append(f"{label}: {text} is not in the lock's {section} files")
                elif not req.specifier.contains(found.version, prereleases=True):
                    problems.append(f"{label}: {text} is not satisfied by {found.name} {found.version}")
        for locked in (*part.install, *part.build):
            version = pinned.get(locked.name)
            if version is not None and Version(version) != Version(locked.version):
                problems.append(f"{label}: {locked.name} {locked.version}, requirements/constraints.txt pins {version}")
    return list(dict.fromkeys(problems))


def lock_changes(old: WheelLock | None, new: WheelLock) -> list[str]:
    """What changed from ``old`` to ``new``, one line per distribution:
    ``patroni 4.1.5 -> 4.1.6`` (on every Python), ``+ legacy-cgi 2.6.3 (Python 3.13)``..."""
    if old is None:
        return []
    changes: dict[tuple[str, str, str, str], list[str]] = {}
    pythons = sorted({p.python for p in (*old.pythons, *new.pythons)}, key=lambda v: tuple(map(int, v.split("."))))
    for python in pythons:
        before, after = _versions(old, python), _versions(new, python)
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                section, name = key
                changes.setdefault((section, name, before.get(key, ""), after.get(key, "")), []).append(python)
    lines = []
    for (section, name, was, now), where in changes.items():
        what = f"{name} {was} -> {now}" if was and now else (f"+ {name} {now}" if now else f"- {name} {was}")
        scope = "" if where == pythons else f" (Python {', '.join(where)})"
        lines.append(f"{'build: ' if section == 'build' else ''}{what}{scope}")
    return lines


def _versions(lock: WheelLock, python: str) -> dict[tuple[str, str], str]:
    part = next((p for p in lock.pythons if p.python == python), None)
    if part is None:
        return {}
    return {("install", f.name): f.version for f in part.install} | {("build", f.name): f.version for f in part.build}


def _requirement(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as err:
        raise PigsaltError(f"not a requirement: {text!r} ({err})") from err
