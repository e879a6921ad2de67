"""The Python half of the repository: a wheelhouse for each release's Python, and its index.

Wheels for the build machine's own Python are built by ``pip wheel`` running in a venv of
Debian's ``/usr/bin/python3`` (kept in the cache), so compiled ones (timelib) match the
interpreter the nodes of that release run. Wheels for another release's Python start from that
wheelhouse (``plan_downloads``: pure and stable-ABI wheels are shared) and are finished in a
root of that release (``pigsalt.repo.foreign``). The directory works with
``pip install --no-index --find-links DIR`` and, through ``simple/`` (PEP 503), with
``--index-url http://repo.pigsty/pypi/simple``.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_text_atomic
from pigsalt.repo._util import file_digest, last_line, run

# What a wheel of pigsalt needs from the source tree (and what the source hash covers).
SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "LICENSE", "MANIFEST.in")
SOURCE_PACKAGE = "pigsalt"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info")


def normalize(name: str) -> str:
    """A project name as PEP 503 spells it in URLs."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_project(filename: str) -> str:
    """The normalized project name of a wheel file (``Foo_Bar-1.0-py3-none-any.whl`` → ``foo-bar``)."""
    if not filename.endswith(".whl") or filename.count("-") < 4:
        raise PigsaltError(f"not a wheel file name: {filename}")
    return normalize(filename.split("-", 1)[0])


def wheel_version(filename: str) -> str:
    """The version field of a wheel file name."""
    return filename.split("-")[1]


def requires_python(wheel: Path) -> str | None:
    """The ``Requires-Python`` of a wheel's metadata, if it declares one."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
            if not names:
                return None
            text = archive.read(names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as err:
        raise PigsaltError(f"cannot read wheel {wheel.name}: {err}") from err
    value = HeaderParser().parsestr(text).get("Requires-Python")
    return value.strip() if value else None


def write_simple_index(pypi_dir: Path) -> dict[str, list[str]]:
    """Write ``simple/index.html`` and ``simple/<project>/index.html`` for the wheels in ``pypi_dir``.

    Links are relative (``../../<file>``) so the tree can be served under any prefix. Returns
    the projects with their files. Files of projects that are gone are removed.
    """
    projects: dict[str, list[str]] = {}
    for wheel in sorted(pypi_dir.glob("*.whl")):
        projects.setdefault(wheel_project(wheel.name), []).append(wheel.name)
    simple = pypi_dir / "simple"
    simple.mkdir(exist_ok=True)
    for project, files in sorted(projects.items()):
        anchors = []
        for name in files:
            digest = file_digest(pypi_dir / name)
            requires = requires_python(pypi_dir / name)
            attr = f' data-requires-python="{html.escape(requires)}"' if requires else ""
            anchors.append(f'    <a href="../../{html.escape(name)}#sha256={digest}"{attr}>{html.escape(name)}</a><br>')
        write_text_atomic(simple / project / "index.html", _page(f"Links for {project}", anchors))
    top = [f'    <a href="{project}/">{project}</a><br>' for project in sorted(projects)]
    write_text_atomic(simple / "index.html", _page("Simple index", top))
    for entry in simple.iterdir():
        if entry.is_dir() and entry.name not in projects:
            shutil.rmtree(entry)
    return projects


def _page(title: str, body: Iterable[str]) -> str:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta name="pypi:repository-version" content="1.0">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        *body,
        "  </body>",
        "</html>",
    ]
    return "\n".join(lines) + "\n"


class WheelBuilder:
    """``pip`` in a venv of the build machine's Python, with a persistent pip cache."""

    def __init__(self, cache_dir: Path, base_python: str) -> None:
        self.cache_dir = cache_dir
        self.base_python = Path(base_python)
        self.venv = cache_dir / "wheel-builder"
        self.python = self.venv / "bin" / "python"

    def python_version(self) -> str:
        """The full version of the build machine's interpreter."""
        if not self.base_python.is_file():
            raise PigsaltError(
                f"{self.base_python} is missing: the wheels are built with Debian's Python (apt install python3)"
            )
        code = "import platform; print(platform.python_version())"
        return run([self.base_python, "-c", code], what=str(self.base_python)).stdout.strip()

    def prepare(self) -> str:
        """Create (or re-create) the builder venv; return the interpreter's full version."""
        version = self.python_version()
        marker = self.venv / ".pigsalt-python"
        if not self.python.is_file() or not marker.is_file() or marker.read_text().strip() != version:
            shutil.rmtree(self.venv, ignore_errors=True)
            run([self.base_python, "-m", "venv", self.venv], what="python3 -m venv (is python3-venv installed?)")
            write_text_atomic(marker, version + "\n")
        return version

    def env(self) -> dict[str, str]:
        """pip's environment: our cache, no version check, no user config surprises."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_CONSTRAINT", "PIP_REQUIRE", "PYTHON"))}
        env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "LC_ALL": "C.UTF-8"})
        return env

    def pip(
        self, args: Sequence[str | os.PathLike[str]], what: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pip ARGS`` with the builder's cache."""
        cmd = [self.python, "-m", "pip", "--cache-dir", self.cache_dir / "pip", *args]
        return run(cmd, env=self.env(), what=what, timeout=3600, check=check)

    def wheel(self, args: Sequence[str | os.PathLike[str]], out_dir: Path, what: str) -> None:
        """Run ``pip wheel ARGS -w out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self.pip(["wheel", "--quiet", "--use-pep517", "--wheel-dir", out_dir, *args], what)

    def build_all(
        self, requirements: Sequence[str], source: Path, constraints: Path, out_dir: Path, work: Path
    ) -> None:
        """Every wheel of ``requirements`` plus pigsalt's own, resolved together under ``constraints``."""
        tree = copy_source(source, work / "pigsalt-src")
        self.wheel(["--constraint", constraints, *requirements, tree], out_dir, "pip wheel")

    def build_pigsalt(self, source: Path, out_dir: Path, work: Path) -> Path:
        """Only pigsalt's wheel (its dependencies are already in the wheelhouse)."""
        tree = copy_source(source, work / "pigsalt-src")
        build = work / "pigsalt-wheel"
        self.wheel(["--no-deps", tree], build, "pip wheel (pigsalt)")
        wheels = [w for w in build.glob("*.whl") if wheel_project(w.name) == SOURCE_PACKAGE]
        if len(wheels) != 1:
            raise PigsaltError(f"pip wheel built {len(wheels)} pigsalt wheels, expected 1")
        return wheels[0]

    def check_install(self, requirements: Sequence[str], wheelhouse: Path, label: str) -> None:
        """``pip install --dry-run`` of ``requirements`` from ``wheelhouse`` alone; an error naming what is missing."""
        args: list[str | os.PathLike[str]] = ["install", "--dry-run", "--ignore-installed", "--quiet", "--no-index"]
        args += ["--find-links", wheelhouse]
        check_dry_run(self.pip([*args, *requirements], "pip install --dry-run", check=False), label)


def check_dry_run(proc: subprocess.CompletedProcess[str], label: str) -> None:
    """The verdict of a ``pip install --dry-run`` from the wheelhouse alone, as one line."""
    if proc.returncode == 0:
        return
    missing = missing_distributions(proc.stdout + proc.stderr)
    why = f"no wheel for {', '.join(missing)}" if missing else last_line(proc.stderr or proc.stdout)
    raise PigsaltError(f"pypi: the wheelhouse cannot install pigsalt's requirements on {label}: {why}")


_MISSING = re.compile(r"No matching distribution found for ([^\s;]+)")
# With a constraint on it, a requirement pip finds no file for is reported as a conflict
# ("The user requested X" / "The user requested (constraint) X").
_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies")


def missing_distributions(output: str) -> list[str]:
    """The requirements pip could not find a file for, in the order it named them."""
    found: dict[str, None] = {}
    for match in _MISSING.finditer(output):
        found.setdefault(match.group(1), None)
    for match in _CONFLICT.finditer(output):
        for name in re.split(r", | and ", match.group(1)):
            found.setdefault(name.strip(), None)
    return list(found)


# --- wheels for another Python -------------------------------------------------------------------


def wheel_tags(filename: str) -> list[tuple[str, str, str]]:
    """The (python, abi, platform) tags of a wheel file name, compressed tag sets expanded."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise PigsaltError(f"not a wheel file name: {filename}")
    pythons, abis, platforms = (part.split(".") for part in parts[-3:])
    return [(p, a, pl) for p in pythons for a in abis for pl in platforms]


def serves(filename: str, python_version: str) -> bool:
    """Whether a wheel installs as it is on CPython ``python_version`` (X.Y).

    Pure wheels (``py3-none``) and the stable ABI (``cp3X-abi3`` with X not above the target)
    do; so does a wheel built for that very version. A ``cp311-cp311`` one does not.
    """
    major, minor = (int(part) for part in python_version.split(".")[:2])
    for python, abi, _ in wheel_tags(filename):
        impl, digits = python[:2], python[2:]
        if impl not in ("py", "cp") or not digits.isdigit() or digits[0] != str(major):
            continue
        version = int(digits[1:] or 0)  # py3 → any 3.x
        if impl == "py" and abi == "none" and version <= minor:
            return True
        if impl == "cp" and abi == "abi3" and version <= minor:
            return True
        if impl == "cp" and version == minor and abi in ("none", f"cp{major}{minor}"):
            return True
    return False


@dataclass(frozen=True)
class DownloadPlan:
    """Which wheels of a wheelhouse serve another Python as they are, and what must be fetched for it."""

    shared: tuple[str, ...]  # wheel file names usable as they are
    fetch: tuple[str, ...]  # NAME==VERSION: a wheel for the target Python, or the sdist to build one


def plan_downloads(wheels: Iterable[str], python_version: str) -> DownloadPlan:
    """Split a wheelhouse (file names) by what CPython ``python_version`` can use of it."""
    shared: list[str] = []
    fetch: list[str] = []
    for name in sorted(wheels):
        if serves(name, python_version):
            shared.append(name)
        else:
            fetch.append(f"{name.split('-', 1)[0]}=={wheel_version(name)}")
    return DownloadPlan(tuple(shared), tuple(fetch))


def copy_source(source: Path, dest: Path) -> Path:
    """Copy the files a pigsalt wheel is built from, so the build never writes into the work tree."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in SOURCE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    shutil.copytree(source / SOURCE_PACKAGE, dest / SOURCE_PACKAGE, ignore=_IGNORED)
    return dest


def source_files(source: Path) -> list[Path]:
    """The files of the source tree that end up in pigsalt's wheel, in a stable order."""
    files = [source / name for name in SOURCE_FILES if (source / name).is_file()]
    for path in sorted((source / SOURCE_PACKAGE).rglob("*")):
        rel = path.relative_to(source)
        skipped = any(part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts)
        if path.is_file() and not skipped and path.suffix not in (".pyc", ".pyo"):
            files.append(path)
    return files


def source_hash(source: Path) -> str:
    """A digest of pigsalt's source: when it changes, the wheel in the repository is rebuilt."""
    digest = hashlib.sha256()
    for path in source_files(source):
        rel = str(path.relative_to(source)).encode("utf-8")
        digest.update(len(rel).to_bytes(8, "big") + rel)
        digest.update(bytes.fromhex(file_digest(path)))
    return digest.hexdigest()
