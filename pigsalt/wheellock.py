"""The wheel lock (``pigsalt/data/wheels.lock``): every file the offline repository's wheelhouse
is made of, for each Python the nodes run, with its SHA-256.

``pigsalt repo lock`` writes it (``pigsalt.repo.lock``); the repository build fetches exactly
these files, by hash, and the pillar compiler tells the formulas which Patroni it holds. Two
readers, one fact: the day PyPI serves a newer Patroni, nothing changes until the lock does.

The file is JSON with one locked file per line, so that a version bump reads as a one-line diff::

    {
      "comment": "...",
      "format": 1,
      "index_url": "https://pypi.org/simple",
      "pythons": {
        "3.11": {
          "platform": "manylinux_2_36_x86_64",
          "install": [
            {"name": "patroni", "version": "4.1.5", "file": "patroni-4.1.5-py3-none-any.whl", "sha256": "..."},
            {"name": "salt", "version": "3008.3", "file": "salt-3008.3.tar.gz", "sha256": "...", "url": "https://..."}
          ],
          "build": [...]
        }
      }
    }

``install`` is what the wheelhouse holds for that Python (an sdist, with its ``url``, where the
index has no wheel for it: the build compiles it offline in a root of the release); ``build`` is
what compiling those sdists needs (Cython, setuptools, wheel), offered to the build, not served.
``platform`` is the newest manylinux tag the releases running that Python take (their glibc).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pigsalt.errors import PigsaltError

LOCK_PATH = Path(__file__).resolve().parent / "data" / "wheels.lock"
LOCK_FORMAT = 1
LOCK_COMMENT = (
    "Written by `pigsalt repo lock` (make repo-lock); do not edit by hand. Every file of the offline "
    "repository's wheelhouse for each Python the nodes run, with its SHA-256 (docs/repo.md)."
)

_PYTHON = re.compile(r"^3\.\d+$")
_PLATFORM = re.compile(r"^manylinux_(\d+)_(\d+)_([a-z0-9_]+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SDIST_SUFFIXES = (".tar.gz", ".zip")
_KEYS = ("name", "version", "file", "sha256", "url")


def normalize(name: str) -> str:
    """A project name as PEP 503 spells it (``Jinja2`` → ``jinja2``, ``zc.lockfile`` → ``zc-lockfile``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockedFile:
    """One distribution of the lock: the file to fetch for it and its hash."""

    name: str  # normalized (PEP 503)
    version: str
    file: str
    sha256: str
    url: str = ""  # sdists only: the build fetches them itself (pip would run their build code to read them)

    @property
    def is_wheel(self) -> bool:
        return self.file.endswith(".whl")

    def pin(self) -> str:
        """The line of a hash-checking requirements file (``pip --require-hashes``)."""
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


@dataclass(frozen=True)
class PythonLock:
    """The files of one Python (``3.13``): what the wheelhouse holds, and what building its sdists needs."""

    python: str
    platform: str  # manylinux_<glibc>_<machine>
    install: tuple[LockedFile, ...]
    build: tuple[LockedFile, ...]

    @property
    def glibc(self) -> tuple[int, int]:
        match = _PLATFORM.match(self.platform)
        assert match is not None  # checked when parsed
        return int(match.group(1)), int(match.group(2))

    @property
    def machine(self) -> str:
        return self.platform.split("_", 3)[3]

    def find(self, name: str) -> LockedFile | None:
        """The installed distribution ``name`` (any spelling), if the lock holds it."""
        wanted = normalize(name)
        return next((f for f in self.install if f.name == wanted), None)

    def version(self, name: str) -> str:
        """The version of ``name`` the wheelhouse holds for this Python; an error when it holds none."""
        found = self.find(name)
        if found is None:
            raise PigsaltError(
                f"{LOCK_PATH.name}: no {normalize(name)} for Python {self.python}: run `pigsalt repo lock`"
            )
        return found.version


@dataclass(frozen=True)
class WheelLock:
    """The whole lock: the index it was resolved against, and the files of each Python."""

    index_url: str
    pythons: tuple[PythonLock, ...]

    def python(self, version: str) -> PythonLock:
        """The part for Python ``version`` (X.Y); an error naming the ones the lock has."""
        for part in self.pythons:
            if part.python == version:
                return part
        have = ", ".join(p.python for p in self.pythons) or "none"
        raise PigsaltError(f"{LOCK_PATH.name} holds no Python {version} (it has {have}): run `pigsalt repo lock`")

    def identity(self, version: str) -> str:
        """What a build for Python ``version`` is made of, as canonical text (part of a release's hash)."""
        part = self.python(version)
        data = {"index_url": self.index_url, **_part_data(part)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def render(self) -> str:
        """The lock file's text: stable, one locked file per line."""
        lines = [
            "{",
            f'  "comment": {json.dumps(LOCK_COMMENT)},',
            f'  "format": {LOCK_FORMAT},',
            f'  "index_url": {json.dumps(self.index_url)},',
            '  "pythons": {',
        ]
        for number, part in enumerate(self.pythons):
            lines += [f"    {json.dumps(part.python)}: {{", f'      "platform": {json.dumps(part.platform)},']
            for key, files in (("install", part.install), ("build", part.build)):
                lines.append(f'      "{key}": [')
                entries = [json.dumps(_file_data(f), ensure_ascii=False) for f in files]
                lines += [f"        {entry}{',' if i < len(entries) - 1 else ''}" for i, entry in enumerate(entries)]
                lines.append("      ]," if key == "install" else "      ]")
            lines.append("    }," if number < len(self.pythons) - 1 else "    }")
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str, origin: str = LOCK_PATH.name) -> WheelLock:
        """Parse and check a lock; every problem is reported at once, with its dotted path."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise PigsaltError(f"{origin}: not valid JSON: {err}") from err
        if not isinstance(data, Mapping):
            raise PigsaltError(f"{origin}: expected a JSON object")
        errors: list[str] = []
        if data.get("format") != LOCK_FORMAT:
            errors.append(f"format: expected {LOCK_FORMAT}, found {data.get('format')!r} (run `pigsalt repo lock`)")
        index_url = data.get("index_url")
        if not isinstance(index_url, str) or not index_url.startswith("https://"):
            errors.append("index_url: expected an https:// URL")
            index_url = ""
        unknown = sorted(set(data) - {"comment", "format", "index_url", "pythons"})
        if unknown:
            errors.append(f"unknown keys {', '.join(unknown)}")
        pythons = data.get("pythons")
        parts: list[PythonLock] = []
        if not isinstance(pythons, Mapping) or not pythons:
            errors.append("pythons: expected a mapping of Python versions (3.11, 3.13...)")
            pythons = {}
        for python, body in pythons.items():
            part = _parse_part(str(python), body, f"pythons.{python}", errors)
            if part is not None:
                parts.append(part)
        if errors:
            raise PigsaltError(f"{origin}: " + "; ".join(errors))
        return cls(index_url=index_url, pythons=tuple(parts))


def _part_data(part: PythonLock) -> dict[str, Any]:
    return {
        "python": part.python,
        "platform": part.platform,
        "install": [_file_data(f) for f in part.install],
        "build": [_file_data(f) for f in part.build],
    }


def _file_data(locked: LockedFile) -> dict[str, str]:
    data = {"name": locked.name, "version": locked.version, "file": locked.file, "sha256": locked.sha256}
    if locked.url:
        data["url"] = locked.url
    return data


def _parse_part(python: str, body: object, where: str, errors: list[str]) -> PythonLock | None:
    if not _PYTHON.match(python):
        errors.append(f"{where}: expected a Python version X.Y")
        return None
    if not isinstance(body, Mapping):
        errors.append(f"{where}: expected a mapping (platform, install, build)")
        return None
    unknown = sorted(set(body) - {"platform", "install", "build"})
    if unknown:
        errors.append(f"{where}: unknown keys {', '.join(unknown)}")
    platform = body.get("platform")
    if not isinstance(platform, str) or not _PLATFORM.match(platform):
        errors.append(f"{where}.platform: expected manylinux_<major>_<minor>_<machine>")
        platform = ""
    install = _parse_files(body.get("install"), f"{where}.install", errors)
    build = _parse_files(body.get("build"), f"{where}.build", errors)
    return PythonLock(python=python, platform=platform, install=install, build=build)


def _parse_files(raw: object, where: str, errors: list[str]) -> tuple[LockedFile, ...]:
    if not isinstance(raw, list):
        errors.append(f"{where}: expected a list of files")
        return ()
    files: list[LockedFile] = []
    for index, item in enumerate(raw):
        at = f"{where}.{index}"
        if not isinstance(item, Mapping) or not all(isinstance(v, str) for v in item.values()):
            errors.append(f"{at}: expected an object of strings (name, version, file, sha256)")
            continue
        unknown = sorted(set(item) - set(_KEYS))
        if unknown:
            errors.append(f"{at}: unknown keys {', '.join(unknown)}")
        missing = [key for key in _KEYS[:4] if not item.get(key)]
        if missing:
            errors.append(f"{at}: missing {', '.join(missing)}")
            continue
        locked = LockedFile(item["name"], item["version"], item["file"], item["sha256"], item.get("url", ""))
        at = f"{where}.{locked.name}"
        if not _NAME.match(locked.name):
            errors.append(f"{at}: the name is not normalized (PEP 503: {normalize(locked.name)})")
        if not _SHA256.match(locked.sha256):
            errors.append(f"{at}.sha256: expected 64 lowercase hex digits")
        if locked.is_wheel:
            parts = locked.file[: -len(".whl")].split("-")
            if len(parts) not in (5, 6) or normalize(parts[0]) != locked.name or parts[1] != locked.version:
                errors.append(f"{at}.file: {locked.file} is not a wheel of {locked.name} {locked.version}")
            if locked.url:
                errors.append(f"{at}.url: only sdists have one (wheels come through the index, by hash)")
        else:
            stem = next((locked.file[: -len(s)] for s in _SDIST_SUFFIXES if locked.file.endswith(s)), "")
            project, _, version = stem.rpartition("-")
            if normalize(project) != locked.name or version != locked.version:
                errors.append(f"{at}.file: {locked.file} is not an sdist of {locked.name} {locked.version}")
            if not locked.url.startswith("https://") or not locked.url.endswith("/" + locked.file):
                errors.append(f"{at}.url: expected the https:// URL of {locked.file}")
        if any(f.name == locked.name for f in files):
            errors.append(f"{at}: listed twice")
        files.append(locked)
    return tuple(files)


_CACHE: dict[tuple[Path, int, int], WheelLock] = {}


def load_lock(path: Path = LOCK_PATH) -> WheelLock:
    """The lock at ``path`` (the packaged one by default); parsed once while the file is unchanged."""
    try:
        stat = path.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in _CACHE:
            _CACHE[key] = WheelLock.from_text(path.read_text(encoding="utf-8"), origin=str(path))
    except OSError as err:
        raise PigsaltError(f"cannot read the wheel lock {path}: {err.strerror}: run `pigsalt repo lock`") from err
    return _CACHE[key]
