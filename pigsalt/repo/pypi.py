"""The Python half of the repository: the files of the wheel lock, and the wheelhouse's index.

Every file comes from ``pigsalt/data/wheels.lock`` (``pigsalt.wheellock``), fetched by its hash:
``WheelBuilder.download`` has the host's pip fetch the binary wheels of one Python (``pip download
--require-hashes --only-binary=:all:`` with that Python's tags, from the lock's HTTPS index and
nothing else); an sdist the index has no wheel for is fetched by ``pigsalt.repo.builder`` and
compiled offline in a root of the release. The host's pip builds nothing but pigsalt's own wheel,
offline, with the lock's setuptools and wheel. The directory works with ``pip install --no-index
--find-links DIR`` and, through ``simple/`` (PEP 503), with ``--index-url http://repo.pigsty/pypi/simple``.
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
from email.parser import HeaderParser
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_text_atomic
from pigsalt.repo._util import file_digest, last_line, run
from pigsalt.wheellock import LockedFile, PythonLock, normalize

# What a wheel of pigsalt needs from the source tree (and what the source hash covers).
SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "LICENSE", "MANIFEST.in")
SOURCE_PACKAGE = "pigsalt"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.egg-info")


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


#: The pip settings that pass from the environment to a pip that reaches the index: how to get
#: there (a proxy, its CA), never where to look (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_CONSTRAINT...).
PIP_NETWORK_SETTINGS = frozenset(
    {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_TIMEOUT", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES"}
)


def pip_env() -> dict[str, str]:
    """The environment of a pip run: no configuration file (``PIP_CONFIG_FILE`` is the null device,
    so no pip.conf adds an index, a find-links or a constraint), no PIP_* setting but the network
    ones, no version check, no prompt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON")) or k in PIP_NETWORK_SETTINGS}
    env.update(
        {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "LC_ALL": "C.UTF-8"}
    )
    return env


class WheelBuilder:
    """``pip`` in a venv of the build machine's Python, with a persistent pip cache: it downloads
    the lock's wheels for each Python and builds pigsalt's own wheel."""

    def __init__(self, cache_dir: Path, base_python: str) -> None:
        self.cache_dir = cache_dir
        self.base_python = Path(base_python)
        self.venv = cache_dir / "wheel-builder"
        self.python = self.venv / "bin" / "python"

    def python_version(self) -> str:
        """The full version of the build machine's interpreter."""
        if not self.base_python.is_file():
            raise PigsaltError(
                f"{self.base_python} is missing: the wheels are fetched with Debian's Python (apt install python3)"
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

    def pip(
        self, args: Sequence[str | os.PathLike[str]], what: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pip ARGS`` with the builder's cache (see ``pip_env``)."""
        cmd = [self.python, "-m", "pip", "--cache-dir", self.cache_dir / "pip", *args]
        return run(cmd, env=pip_env(), what=what, timeout=3600, check=check)

    def download(
        self, files: Sequence[LockedFile], part: PythonLock, index_url: str, dest: Path, label: str
    ) -> list[Path]:
        """The binary wheels ``files`` of ``part``'s Python, into ``dest``: from ``index_url`` only,
        each checked against its locked hash (``--require-hashes``), no dependency followed."""
        wheels = [f for f in files if f.is_wheel]
        if not wheels:
            return []
        if not index_url.startswith("https://"):
            raise PigsaltError(f"pypi: the lock's index {index_url} is not https://: run `pigsalt repo lock`")
        dest.mkdir(parents=True, exist_ok=True)
        pins = dest.parent / f"{dest.name}.requirements.txt"
        write_text_atomic(pins, "".join(f"{f.pin()}\n" for f in wheels))
        args: list[str | os.PathLike[str]] = ["download", "--quiet", "--no-deps", "--require-hashes"]
        args += binary_download_args(part.python, manylinux_platforms(part.glibc, part.machine))
        args += ["--index-url", index_url, "--dest", dest, "--requirement", pins]
        self.pip(args, f"pip download (wheels for {label})")
        return [verified(dest / f.file, f) for f in wheels]

    def build_pigsalt(self, source: Path, out_dir: Path, work: Path, links: Path) -> Path:
        """Only pigsalt's wheel (its dependencies are in the wheelhouse), offline: its build
        requirements (setuptools, wheel) from ``links``, the lock's files."""
        tree = copy_source(source, work / "pigsalt-src")
        build = work / "pigsalt-wheel"
        build.mkdir(parents=True, exist_ok=True)
        args: list[str | os.PathLike[str]] = ["wheel", "--quiet", "--use-pep517", "--no-deps", "--no-index"]
        args += ["--find-links", links, "--wheel-dir", build, tree]
        self.pip(args, "pip wheel (pigsalt)")
        wheels = [w for w in build.glob("*.whl") if wheel_project(w.name) == SOURCE_PACKAGE]
        if len(wheels) != 1:
            raise PigsaltError(f"pip wheel built {len(wheels)} pigsalt wheels, expected 1")
        return wheels[0]


def verified(path: Path, locked: LockedFile) -> Path:
    """``path``, when it holds ``locked``'s file as the lock hashed it; an error otherwise."""
    if not path.is_file():
        raise PigsaltError(f"pypi: {locked.file} was not fetched")
    digest = file_digest(path)
    if digest != locked.sha256:
        raise PigsaltError(f"pypi: {locked.file} has SHA-256 {digest}, the lock says {locked.sha256}")
    return path


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


# --- wheels for each Python ---------------------------------------------------------------------


# The manylinux aliases older wheels carry, by the glibc minor they mean.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def manylinux_platforms(glibc: tuple[int, int], machine: str) -> tuple[str, ...]:
    """pip's ``--platform`` values for a system with ``glibc``, newest first."""
    tags: list[str] = []
    for minor in range(glibc[1], 4, -1):
        tags.append(f"manylinux_{glibc[0]}_{minor}_{machine}")
        if minor in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[minor]}_{machine}")
    return tuple(tags)


def binary_download_args(python_version: str, platforms: Sequence[str]) -> list[str]:
    """``pip download`` options that fetch wheels for CPython ``python_version`` on ``platforms``."""
    abi = "cp" + python_version.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    args += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        args += ["--platform", platform]
    return args


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
