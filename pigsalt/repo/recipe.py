"""The repository recipe (``pigsalt/data/repo-packages.yml``) and its hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pigsalt.debian import AptSource, host_sources
from pigsalt.errors import PigsaltError

#: Bump when the way the repository is built changes: it is part of the recipe hash,
#: so every existing repository is rebuilt by ``ensure_repo``.
BUILDER_VERSION = "1"

RECIPE_PATH = Path(__file__).resolve().parent.parent / "data" / "repo-packages.yml"

_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SALT_PIN = re.compile(r"^salt==(\S+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Recipe:
    """What goes into the repository: Debian packages by group, and Python requirements."""

    release: str
    keyring: str
    sources: tuple[AptSource, ...]
    install_recommends: bool
    include_minbase: bool
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    python: str
    python_version: str
    requirements: tuple[str, ...]
    text: str

    def effective_sources(self) -> tuple[AptSource, ...]:
        """The recipe's sources, or this machine's APT sources for the release when it names none."""
        return self.sources or host_sources(self.release)

    @property
    def packages(self) -> tuple[str, ...]:
        """Every requested Debian package, in recipe order, without duplicates."""
        seen: dict[str, None] = {}
        for _, names in self.groups:
            for name in names:
                seen.setdefault(name, None)
        return tuple(seen)

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
        """Parse and check a recipe; every problem is reported at once."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise PigsaltError(f"{origin}: not valid YAML: {err}".splitlines()[0]) from err
        errors: list[str] = []
        if not isinstance(data, Mapping):
            raise PigsaltError(f"{origin}: expected a mapping at the top level")
        debian = _mapping(data, "debian", errors)
        apt = _mapping(data, "apt", errors)
        pypi = _mapping(data, "pypi", errors)

        sources: list[AptSource] = []
        raw_sources = debian.get("sources")
        if raw_sources is None:
            pass  # the build machine's own APT sources (see effective_sources)
        elif not isinstance(raw_sources, list) or not raw_sources:
            errors.append("debian.sources: expected a non-empty list, or no key to use this machine's sources")
        else:
            for index, item in enumerate(raw_sources):
                where = f"debian.sources.{index}"
                if not isinstance(item, Mapping):
                    errors.append(f"{where}: expected a mapping with uri and suites")
                    continue
                uri = item.get("uri")
                suites = item.get("suites")
                if not isinstance(uri, str) or not uri.startswith(("http://", "https://", "file:")):
                    errors.append(f"{where}.uri: expected an http(s):// or file: URI")
                    continue
                if not isinstance(suites, list) or not _str_list(suites):
                    errors.append(f"{where}.suites: expected a non-empty list of suite names")
                    continue
                sources.append(AptSource(uri=uri, suites=tuple(suites)))

        groups: list[tuple[str, tuple[str, ...]]] = []
        for group, names in apt.items():
            if not isinstance(names, list) or not _str_list(names):
                errors.append(f"apt.{group}: expected a non-empty list of package names")
                continue
            for index, name in enumerate(names):
                if not _PACKAGE_NAME.match(name):
                    errors.append(f"apt.{group}.{index}: {name!r} is not a Debian package name")
            groups.append((str(group), tuple(names)))
        if not groups and "apt" in data:
            errors.append("apt: expected at least one group of packages")

        requirements = pypi.get("requirements")
        if not isinstance(requirements, list) or not _str_list(requirements):
            errors.append("pypi.requirements: expected a non-empty list of requirement strings")
            requirements = []

        release = _string(debian, "release", "debian.release", errors)
        keyring = _string(debian, "keyring", "debian.keyring", errors)
        python = _string(pypi, "python", "pypi.python", errors)
        python_version = str(pypi.get("python_version", ""))
        if not re.match(r"^3\.\d+$", python_version):
            errors.append("pypi.python_version: expected a version such as '3.11'")
        for key in ("install_recommends", "include_minbase"):
            if not isinstance(debian.get(key, True), bool):
                errors.append(f"debian.{key}: expected true or false")
        if errors:
            raise PigsaltError(f"{origin}: " + "; ".join(errors))
        recipe = cls(
            release=release,
            keyring=keyring,
            sources=tuple(sources),
            install_recommends=bool(debian.get("install_recommends", True)),
            include_minbase=bool(debian.get("include_minbase", True)),
            groups=tuple(groups),
            python=python,
            python_version=python_version,
            requirements=tuple(requirements),
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


def recipe_hash(recipe: Recipe, constraints: str, install_requires: str) -> str:
    """The identity of a repository's content.

    It covers the recipe file, the builder version, the Salt version, the constraints file the
    wheels are resolved under and pigsalt's own ``install_requires``: a change in any of them
    means the repository must be rebuilt. pigsalt's code is tracked separately (its wheel is
    refreshed in place, see ``ensure_repo``).
    """
    digest = hashlib.sha256()
    for part in (
        f"builder={BUILDER_VERSION}",
        f"salt={recipe.salt_version}",
        recipe.text,
        constraints,
        install_requires,
    ):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


def _mapping(data: Mapping[str, Any], key: str, errors: list[str]) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        errors.append(f"{key}: expected a mapping")
        return {}
    return value


def _string(data: Mapping[str, Any], key: str, where: str, errors: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        errors.append(f"{where}: expected a non-empty string")
        return ""
    return value


def _str_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
