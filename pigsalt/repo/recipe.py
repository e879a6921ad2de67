"""The repository recipe (``pigsalt/data/repo-packages.yml``) and the hash of each release's part."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from pigsalt.debian import BY_CODENAME, AptSource, sources_for
from pigsalt.errors import PigsaltError

#: Bump when the way the repository is built changes: it is part of every release's hash,
#: so every existing repository is rebuilt by ``ensure_repo``.
BUILDER_VERSION = "3"

RECIPE_PATH = Path(__file__).resolve().parent.parent / "data" / "repo-packages.yml"

_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SALT_PIN = re.compile(r"^salt==(\S+)$", re.IGNORECASE)

Groups = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class ReleaseRecipe:
    """What goes into ``apt/<codename>/``, and which Python its wheels are for."""

    codename: str
    python_version: str  # the release's interpreter, X.Y (from pigsalt.debian)
    keyring: str
    sources: tuple[AptSource, ...]
    install_recommends: bool
    include_minbase: bool
    groups: Groups

    def effective_sources(self) -> tuple[AptSource, ...]:
        """The recipe's sources, or this machine's APT archives for the release when it names none."""
        return self.sources or sources_for(self.codename)

    @property
    def packages(self) -> tuple[str, ...]:
        """Every requested Debian package, in recipe order, without duplicates."""
        seen: dict[str, None] = {}
        for _, names in self.groups:
            for name in names:
                seen.setdefault(name, None)
        return tuple(seen)


@dataclass(frozen=True)
class Recipe:
    """What goes into the repository: each release's Debian packages, and the Python requirements."""

    releases: tuple[ReleaseRecipe, ...]
    python: str  # the build machine's interpreter: its pip fetches the locked wheels, builds pigsalt's
    requirements: tuple[str, ...]
    build_requirements: tuple[str, ...]  # what compiling the locked sdists needs (locked too)
    builder_packages: tuple[str, ...]  # the Debian packages of that build's root
    text: str

    @property
    def codenames(self) -> tuple[str, ...]:
        return tuple(r.codename for r in self.releases)

    def release(self, codename: str) -> ReleaseRecipe:
        """The part of the recipe for ``codename``; an error naming the releases it has."""
        for candidate in self.releases:
            if candidate.codename == codename:
                return candidate
        raise PigsaltError(f"repo recipe: no release {codename!r} (it has {', '.join(self.codenames)})")

    @property
    def salt_version(self) -> str:
        """The version of Salt the recipe pins (``salt==X`` in ``pypi.requirements``)."""
        for req in self.requirements:
            match = _SALT_PIN.match(req.strip())
            if match:
                return match.group(1)
        raise PigsaltError("repo recipe: pypi.requirements must pin salt (salt==VERSION)")

    @classmethod
    def from_text(cls, text: str, origin: str = "repo recipe") -> Recipe:
        """Parse and check a recipe; every problem is reported at once, with its dotted path."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise PigsaltError(f"{origin}: not valid YAML: {err}".splitlines()[0]) from err
        if not isinstance(data, Mapping):
            raise PigsaltError(f"{origin}: expected a mapping at the top level")
        errors: list[str] = []
        debian = _mapping(data, "debian", "debian", errors)
        pypi = _mapping(data, "pypi", "pypi", errors)
        shared = _groups(data.get("apt"), "apt", errors, required=True)

        keyring = _string(debian, "keyring", "debian.keyring", errors)
        flags = {key: debian.get(key, True) for key in ("install_recommends", "include_minbase")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                errors.append(f"debian.{key}: expected true or false")

        releases: list[ReleaseRecipe] = []
        raw_releases = data.get("releases")
        if not isinstance(raw_releases, Mapping) or not raw_releases:
            errors.append("releases: expected a mapping of Debian codenames (bookworm, trixie...)")
            raw_releases = {}
        for codename, body in raw_releases.items():
            where = f"releases.{codename}"
            known = BY_CODENAME.get(str(codename))
            if known is None:
                errors.append(f"{where}: unknown Debian release (expected one of {', '.join(BY_CODENAME)})")
                continue
            if body is None:
                body = {}
            if not isinstance(body, Mapping):
                errors.append(f"{where}: expected a mapping (apt, sources)")
                continue
            unknown = sorted(set(body) - {"apt", "sources"})
            if unknown:
                errors.append(f"{where}: unknown keys {', '.join(map(str, unknown))} (expected apt, sources)")
            own = _groups(body.get("apt", {}), f"{where}.apt", errors, required=False)
            releases.append(
                ReleaseRecipe(
                    codename=known.codename,
                    python_version=known.python,
                    keyring=keyring,
                    sources=_sources(body.get("sources"), f"{where}.sources", errors),
                    install_recommends=flags["install_recommends"] is True,
                    include_minbase=flags["include_minbase"] is True,
                    groups=_merge(shared, own),
                )
            )

        python = _string(pypi, "python", "pypi.python", errors)
        requirements = _str_tuple(pypi, "requirements", "pypi.requirements", errors)
        build_requirements = _str_tuple(pypi, "build_requirements", "pypi.build_requirements", errors)
        builder_packages = _str_tuple(pypi, "builder_packages", "pypi.builder_packages", errors)
        for index, name in enumerate(builder_packages):
            if not _PACKAGE_NAME.match(name):
                errors.append(f"pypi.builder_packages.{index}: {name!r} is not a Debian package name")
        if errors:
            raise PigsaltError(f"{origin}: " + "; ".join(errors))
        recipe = cls(
            releases=tuple(releases),
            python=python,
            requirements=requirements,
            build_requirements=build_requirements,
            builder_packages=builder_packages,
            text=text,
        )
        recipe.salt_version  # noqa: B018 -- raises when salt is not pinned
        return recipe


def load_recipe(path: Path = RECIPE_PATH) -> Recipe:
    """Read the recipe file (the packaged one by default)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PigsaltError(f"cannot read the repo recipe {path}: {err.strerror}") from err
    return Recipe.from_text(text, origin=str(path))


def recipe_hash(recipe: Recipe, codename: str, install_requires: str, lock: str) -> str:
    """The identity of one release's part of a repository.

    It covers what the recipe says about that release (packages, sources, flags), the Python
    side (requirements, the release's Python, what compiling its sdists uses), the builder
    version, pigsalt's own ``install_requires`` and ``lock``, the wheel lock's part for the
    release's Python (``WheelLock.identity``): a change in any of them means that release must
    be rebuilt. Comments and the other releases' lines do not count, nor does
    requirements/constraints.txt, which the build does not read (the lock was resolved under it,
    and a build checks that it still agrees). pigsalt's code is tracked separately (its wheel is
    refreshed in place, see ``ensure_repo``).
    """
    part = recipe.release(codename)
    identity = {
        "builder": BUILDER_VERSION,
        "codename": part.codename,
        "python_version": part.python_version,
        "keyring": part.keyring,
        "sources": [[s.uri, list(s.suites)] for s in part.sources],
        "install_recommends": part.install_recommends,
        "include_minbase": part.include_minbase,
        "groups": [[group, list(names)] for group, names in part.groups],
        "requirements": list(recipe.requirements),
        "build_requirements": list(recipe.build_requirements),
        "builder_packages": list(recipe.builder_packages),
        "install_requires": install_requires,
        "lock": lock,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(shared: Groups, own: Groups) -> Groups:
    """The shared groups with a release's own names added (to a group of the same name, or new)."""
    extra = dict(own)
    merged = [(group, names + tuple(n for n in extra.pop(group, ()) if n not in names)) for group, names in shared]
    return tuple(merged) + tuple(extra.items())


def _groups(raw: object, where: str, errors: list[str], *, required: bool) -> Groups:
    if not isinstance(raw, Mapping) or (required and not raw):
        errors.append(f"{where}: expected a mapping of groups, each a list of Debian package names")
        return ()
    groups: list[tuple[str, tuple[str, ...]]] = []
    for group, names in raw.items():
        if not _str_list(names):
            errors.append(f"{where}.{group}: expected a non-empty list of package names")
            continue
        for index, name in enumerate(names):
            if not _PACKAGE_NAME.match(name):
                errors.append(f"{where}.{group}.{index}: {name!r} is not a Debian package name")
        groups.append((str(group), tuple(names)))
    return tuple(groups)


def _sources(raw: object, where: str, errors: list[str]) -> tuple[AptSource, ...]:
    if raw is None:
        return ()  # the build machine's own APT sources (see ReleaseRecipe.effective_sources)
    if not isinstance(raw, list) or not raw:
        errors.append(f"{where}: expected a non-empty list, or no key to use this machine's sources")
        return ()
    sources: list[AptSource] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors.append(f"{where}.{index}: expected a mapping with uri and suites")
            continue
        uri, suites = item.get("uri"), item.get("suites")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://", "file:")):
            errors.append(f"{where}.{index}.uri: expected an http(s):// or file: URI")
        elif not _str_list(suites):
            errors.append(f"{where}.{index}.suites: expected a non-empty list of suite names")
        else:
            sources.append(AptSource(uri=uri, suites=tuple(suites)))
    return tuple(sources)


def _mapping(data: Mapping[str, Any], key: str, where: str, errors: list[str]) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        errors.append(f"{where}: expected a mapping")
        return {}
    return value


def _string(data: Mapping[str, Any], key: str, where: str, errors: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        errors.append(f"{where}: expected a non-empty string")
        return ""
    return value


def _str_tuple(data: Mapping[str, Any], key: str, where: str, errors: list[str]) -> tuple[str, ...]:
    value = data.get(key)
    if not _str_list(value):
        errors.append(f"{where}: expected a non-empty list of strings")
        return ()
    return tuple(value)


def _str_list(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
