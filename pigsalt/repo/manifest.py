"""The repository's manifest: which releases it holds, what each was built from, and what to rebuild.

``manifest.json`` (format 2) records, for each release, the hash of its part of the recipe
(``recipe.recipe_hash``), its Debian closure and its wheels; ``plan_releases`` compares that with
the current recipe to decide which releases a build must make and which it copies as they are.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_text_atomic
from pigsalt.wheellock import normalize

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 2
KEYRING_NAME = "pigsalt-archive-keyring.gpg"
#: What makes ``apt/<codename>/`` a signed flat repository (besides its .debs).
RELEASE_FILES = ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg")
#: What every release shares.
SHARED_PARTS = (f"apt/{KEYRING_NAME}", "pypi/simple/index.html")


@dataclass(frozen=True)
class RepoInfo:
    """A built repository: a flat signed APT repository per release, one keyring, one wheelhouse.

    ``packages`` and ``requested`` are per release (codename → the closure's package names, the
    recipe's own names); ``wheels`` lists every wheel in ``pypi/``, whichever Python it is for.
    """

    path: Path
    apt_dir: Path  # the parent of the releases' directories; holds the keyring
    pypi_dir: Path
    keyring: Path
    releases: tuple[str, ...]
    python_versions: dict[str, str] = field(default_factory=dict)  # codename → "3.11"
    recipe_hashes: dict[str, str] = field(default_factory=dict)
    packages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    requested: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wheels: tuple[str, ...] = ()
    key_fingerprint: str = ""
    built_at: str = ""
    total_bytes: int = 0

    def release_dir(self, codename: str) -> Path:
        """``apt/<codename>/``: the flat repository a node of that release uses."""
        if codename not in self.releases:
            raise PigsaltError(
                f"the repository at {self.path} holds no {codename} (it has {', '.join(self.releases) or 'none'}): "
                f"run `pigsalt repo build --release {codename}`"
            )
        return self.apt_dir / codename

    @classmethod
    def from_manifest(cls, path: Path, manifest: Mapping[str, Any]) -> RepoInfo:
        """The info of the repository at ``path`` described by ``manifest``."""
        check_format(path, manifest)
        try:
            releases: Mapping[str, Any] = manifest["releases"]
            return cls(
                path=path,
                apt_dir=path / "apt",
                pypi_dir=path / "pypi",
                keyring=path / "apt" / KEYRING_NAME,
                releases=tuple(releases),
                python_versions={c: str(r["python"]) for c, r in releases.items()},
                recipe_hashes={c: str(r["recipe_hash"]) for c, r in releases.items()},
                packages={c: tuple(d.split("=", 1)[0] for d in r["apt"]["packages"]) for c, r in releases.items()},
                requested={c: tuple(r["apt"]["requested"]) for c, r in releases.items()},
                wheels=tuple(manifest["pypi"]["wheels"]),
                key_fingerprint=str(manifest.get("key_fingerprint", "")),
                built_at=str(manifest.get("built_at", "")),
                total_bytes=int(manifest.get("total_bytes", 0)),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise PigsaltError(f"{path / MANIFEST}: not a pigsalt repository manifest ({err})") from err


def check_format(path: Path, manifest: Mapping[str, Any]) -> None:
    """An error when ``manifest`` was written by a pigsalt whose layout differs (a flat ``apt/``)."""
    found = manifest.get("format")
    if found != MANIFEST_FORMAT:
        raise PigsaltError(
            f"{path / MANIFEST}: written by another pigsalt (manifest format {found}, expected "
            f"{MANIFEST_FORMAT}): run `pigsalt repo build`"
        )


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


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def built_releases(manifest: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The releases a manifest of the current format records (none for an older one)."""
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT:
        return {}
    releases = manifest.get("releases")
    return dict(releases) if isinstance(releases, Mapping) else {}


def missing_parts(dest: Path, manifest: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The files each release of the manifest lacks (its directory, its wheels, the shared parts)."""
    shared = [part for part in SHARED_PARTS if not (dest / part).is_file()]
    missing: dict[str, list[str]] = {}
    for codename, entry in built_releases(manifest).items():
        parts = [f"apt/{codename}/{name}" for name in RELEASE_FILES if not (dest / "apt" / codename / name).is_file()]
        wheels = entry.get("pypi", {}).get("wheels", []) if isinstance(entry, Mapping) else []
        parts += [f"pypi/{name}" for name in wheels if not (dest / "pypi" / name).is_file()]
        missing[codename] = shared + parts
    return missing


@dataclass(frozen=True)
class ReleasePlan:
    """What a build does with each release: make it, copy it from the current repository, or drop it."""

    build: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)  # codename → why it is built

    def describe(self) -> str:
        """``bookworm (missing), trixie (built from another recipe)``."""
        return ", ".join(f"{c} ({self.reasons[c]})" for c in self.build)


def plan_releases(
    manifest: Mapping[str, Any] | None,
    wanted: Mapping[str, str],
    requested: Sequence[str],
    incomplete: Collection[str] = (),
    *,
    rebuild: bool = False,
) -> ReleasePlan:
    """Which releases to build, given the repository's ``manifest`` and the current recipe.

    ``wanted`` maps every release of the recipe to its current hash, in recipe order;
    ``requested`` are the releases the caller needs; ``rebuild`` builds them even when up to
    date (``pigsalt repo build``). When something requested must be built, the releases the
    repository holds that are out of date are rebuilt too (the repository keeps what it holds);
    the up-to-date ones are kept, and those no longer in the recipe dropped. When nothing
    requested needs building, nothing is built.
    """
    present = built_releases(manifest)

    def reason(codename: str) -> str | None:
        if codename not in present:
            return "missing"
        if codename in incomplete:
            return "incomplete"
        if present[codename].get("recipe_hash") != wanted[codename]:
            return "built from another recipe"
        return None

    asked = [c for c in wanted if c in requested and (rebuild or reason(c))]
    if not asked:
        return ReleasePlan(keep=tuple(c for c in wanted if c in present))
    stale = [c for c in wanted if c in present and c not in requested and reason(c)]
    build = tuple(c for c in wanted if c in asked or c in stale)
    return ReleasePlan(
        build=build,
        keep=tuple(c for c in wanted if c in present and c not in build),
        drop=tuple(c for c in present if c not in wanted),
        reasons={c: reason(c) or "rebuild asked" for c in build},
    )


# --- what a build changed ------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One package whose version differs between two builds (None: absent from that build)."""

    name: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        if self.old is None:
            return f"{self.name} {self.new} (new)"
        if self.new is None:
            return f"{self.name} {self.old} (gone)"
        return f"{self.name} {self.old} -> {self.new}"


@dataclass(frozen=True)
class ReleaseChanges:
    """How one release of a repository differs from the same release in the previous build."""

    codename: str
    status: str  # "new", "dropped", "changed" or "unchanged"
    since: str = ""  # when the previous build of this release was made
    debs: tuple[Change, ...] = ()
    wheels: tuple[Change, ...] = ()


def release_versions(entry: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A manifest entry's Debian packages (the closure and those added) and wheels, name → version."""
    debs: dict[str, list[str]] = {}
    apt = entry.get("apt", {})
    for spec in [*apt.get("packages", []), *apt.get("added", [])]:
        name, _, version = str(spec).partition("=")
        debs.setdefault(name, []).append(version)
    wheels: dict[str, list[str]] = {}
    for filename in entry.get("pypi", {}).get("wheels", []):
        parts = str(filename).split("-")
        wheels.setdefault(normalize(parts[0]), []).append(parts[1])
    return (
        {name: " ".join(sorted(set(v))) for name, v in debs.items()},
        {name: " ".join(sorted(set(v))) for name, v in wheels.items()},
    )


def _changes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[Change, ...]:
    return tuple(
        Change(name, old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    )


def diff_manifests(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[ReleaseChanges]:
    """Release by release (``new``'s order, then those it dropped), the Debian packages and wheels
    whose versions differ from ``old``'s. A manifest of another format counts as none."""
    before, after = built_releases(old), built_releases(new)
    found: list[ReleaseChanges] = []
    for codename, entry in after.items():
        previous = before.get(codename)
        if previous is None:
            found.append(ReleaseChanges(codename, "new"))
            continue
        (old_debs, old_wheels), (new_debs, new_wheels) = release_versions(previous), release_versions(entry)
        debs, wheels = _changes(old_debs, new_debs), _changes(old_wheels, new_wheels)
        status = "changed" if debs or wheels else "unchanged"
        found.append(ReleaseChanges(codename, status, str(previous.get("built_at", "")), debs, wheels))
    found += [ReleaseChanges(codename, "dropped") for codename in before if codename not in after]
    return found


def describe_changes(changes: Sequence[ReleaseChanges]) -> list[str]:
    """What ``pigsalt repo build`` prints: a line per release, then one per changed package."""
    lines: list[str] = []
    for release in changes:
        since = f" since its build of {release.since}" if release.since else " since its last build"
        if release.status == "new":
            lines.append(f"{release.codename}: new in this repository")
        elif release.status == "dropped":
            lines.append(f"{release.codename}: dropped (no longer in the recipe)")
        elif release.status == "unchanged":
            lines.append(f"{release.codename}: no package changed{since}")
        else:
            counts = [_count(len(release.debs), "Debian package"), _count(len(release.wheels), "wheel")]
            lines.append(f"{release.codename}: {' and '.join(c for c in counts if c)} changed{since}:")
            lines += [f"  deb    {change.describe()}" for change in release.debs]
            lines += [f"  wheel  {change.describe()}" for change in release.wheels]
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}" if number else ""
