"""The wheelhouse: its index (PEP 503), the source hash, the locked downloads and which wheels serve a Python."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo import pypi
from pigsalt.repo.pypi import (
    WheelBuilder,
    binary_download_args,
    check_dry_run,
    copy_source,
    manylinux_platforms,
    missing_distributions,
    normalize,
    pip_env,
    serves,
    source_hash,
    wheel_project,
    wheel_tags,
    write_simple_index,
)
from pigsalt.wheellock import LockedFile, PythonLock


def make_wheel(directory: Path, filename: str, requires_python: str | None = None) -> Path:
    path = directory / filename
    dist = "-".join(filename.split("-")[:2])
    metadata = f"Metadata-Version: 2.1\nName: {filename.split('-')[0]}\nVersion: {filename.split('-')[1]}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA", metadata)
    return path


def test_names_are_normalized_as_pep_503_says() -> None:
    assert normalize("Foo.Bar__baz") == "foo-bar-baz"
    assert wheel_project("psycopg2_binary-2.9.13-cp311-cp311-manylinux2014_x86_64.whl") == "psycopg2-binary"
    assert wheel_project("CherryPy-18.10.0-py3-none-any.whl") == "cherrypy"
    with pytest.raises(PigsaltError, match=re.escape("not a wheel file name: salt.tar.gz")):
        wheel_project("salt.tar.gz")


def test_simple_index_links_every_wheel_with_its_hash(tmp_path: Path) -> None:
    salt = make_wheel(tmp_path, "salt-3008.3-py3-none-any.whl", ">=3.8")
    make_wheel(tmp_path, "jaraco.text-4.3.0-py3-none-any.whl")
    make_wheel(tmp_path, "jaraco_text-4.2.0-py3-none-any.whl")
    (tmp_path / "simple" / "gone").mkdir(parents=True)

    projects = write_simple_index(tmp_path)

    assert projects == {
        "jaraco-text": ["jaraco.text-4.3.0-py3-none-any.whl", "jaraco_text-4.2.0-py3-none-any.whl"],
        "salt": ["salt-3008.3-py3-none-any.whl"],
    }
    top = (tmp_path / "simple" / "index.html").read_text()
    assert '<a href="jaraco-text/">jaraco-text</a>' in top
    assert '<a href="salt/">salt</a>' in top
    page = (tmp_path / "simple" / "salt" / "index.html").read_text()
    digest = hashlib.sha256(salt.read_bytes()).hexdigest()
    assert (
        f'<a href="../../salt-3008.3-py3-none-any.whl#sha256={digest}" data-requires-python="&gt;=3.8">'
        "salt-3008.3-py3-none-any.whl</a>" in page
    )
    assert "data-requires-python" not in (tmp_path / "simple" / "jaraco-text" / "index.html").read_text()
    assert not (tmp_path / "simple" / "gone").exists()


def make_tree(root: Path) -> Path:
    (root / "pigsalt" / "data").mkdir(parents=True)
    (root / "pigsalt" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (root / "pigsalt" / "data" / "x.yml").write_text("a: 1\n")
    (root / "setup.cfg").write_text("[metadata]\nname = pigsalt\n")
    (root / "pyproject.toml").write_text("[build-system]\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("")
    return root


def test_source_hash_follows_the_package_only(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    before = source_hash(tree)
    (tree / "pigsalt" / "__pycache__").mkdir()
    (tree / "pigsalt" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tree / "tests" / "test_x.py").write_text("changed")
    assert source_hash(tree) == before
    (tree / "pigsalt" / "data" / "x.yml").write_text("a: 2\n")
    assert source_hash(tree) != before


def test_the_wheel_is_built_from_a_copy_not_the_work_tree(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    (tree / "pigsalt" / "__pycache__").mkdir()
    copy = copy_source(tree, tmp_path / "copy")
    names = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    assert names == ["pigsalt/__init__.py", "pigsalt/data/x.yml", "pyproject.toml", "setup.cfg"]


# --- the locked downloads ------------------------------------------------------------------------


def test_platforms_go_from_the_release_glibc_down_with_the_old_aliases() -> None:
    tags = manylinux_platforms((2, 41), "x86_64")
    assert tags[0] == "manylinux_2_41_x86_64"
    assert tags[-2:] == ("manylinux_2_5_x86_64", "manylinux1_x86_64")
    assert "manylinux2014_x86_64" in tags and "manylinux2010_x86_64" in tags
    assert "manylinux_2_34_x86_64" in tags
    assert "manylinux_2_39_x86_64" not in manylinux_platforms((2, 36), "x86_64")


def test_binary_downloads_ask_for_that_python_its_abi_abi3_and_pure() -> None:
    assert binary_download_args("3.13", ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]) == [
        "--only-binary=:all:",
        "--python-version",
        "3.13",
        "--implementation",
        "cp",
        "--abi",
        "cp313",
        "--abi",
        "abi3",
        "--abi",
        "none",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux2014_x86_64",
    ]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PYYAML = LockedFile("pyyaml", "6.0.4", "pyyaml-6.0.4-cp313-cp313-manylinux2014_x86_64.whl", digest(b"yaml"))
CLICK = LockedFile("click", "8.5.1", "click-8.5.1-py3-none-any.whl", digest(b"click"))
SALT = LockedFile(
    "salt", "3008.3", "salt-3008.3.tar.gz", digest(b"salt"), url="https://files.example/salt-3008.3.tar.gz"
)
PART = PythonLock("3.13", "manylinux_2_41_x86_64", (CLICK, PYYAML, SALT), ())


class FakeRun:
    """``pigsalt.repo._util.run`` as pip would answer: ``download`` writes the asked files."""

    def __init__(self, contents: dict[str, bytes], returncode: int = 0) -> None:
        self.contents = contents
        self.returncode = returncode
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(
        self, cmd: Sequence[Any], *, env: Mapping[str, str] | None = None, what: str = "", check: bool = True, **_: Any
    ) -> subprocess.CompletedProcess[str]:
        args = [str(a) for a in cmd]
        self.calls.append((args, dict(env or {})))
        if "download" in args:
            dest = Path(args[args.index("--dest") + 1])
            for name, data in self.contents.items():
                (dest / name).write_bytes(data)
        if check and self.returncode:
            raise PigsaltError(f"{what} failed (exit {self.returncode}): ERROR: no network")
        return subprocess.CompletedProcess(args, self.returncode, "", "")


def test_the_build_downloads_the_locked_wheels_by_hash_from_the_https_index_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeRun({CLICK.file: b"click", PYYAML.file: b"yaml"})
    monkeypatch.setattr(pypi, "run", fake)
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://mirror.invalid/simple")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    builder = WheelBuilder(tmp_path / "cache", "/usr/bin/python3")
    dest = tmp_path / "links"
    files = builder.download(PART.install, PART, "https://pypi.org/simple", dest, "Python 3.13 (trixie)")

    assert files == [dest / CLICK.file, dest / PYYAML.file]  # the sdist is not pip's to fetch
    (args, env) = fake.calls[0]
    assert args == [
        str(builder.python),
        *("-m", "pip", "--cache-dir", str(tmp_path / "cache" / "pip")),
        *("download", "--quiet", "--no-deps", "--require-hashes"),
        *("--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp"),
        *("--abi", "cp313", "--abi", "abi3", "--abi", "none"),
        *[arg for platform in manylinux_platforms((2, 41), "x86_64") for arg in ("--platform", platform)],
        *("--index-url", "https://pypi.org/simple", "--dest", str(dest)),
        *("--requirement", str(tmp_path / "links.requirements.txt")),
    ]
    assert "--trusted-host" not in args and not any(a.startswith("http://") for a in args)
    assert (tmp_path / "links.requirements.txt").read_text() == (
        f"click==8.5.1 --hash=sha256:{digest(b'click')}\npyyaml==6.0.4 --hash=sha256:{digest(b'yaml')}\n"
    )
    # No pip.conf, no PIP_* setting that adds a source; the proxy's CA passes.
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert "PIP_FIND_LINKS" not in env and "PIP_EXTRA_INDEX_URL" not in env
    assert env["PIP_CERT"] == "/etc/ssl/certs/ca-certificates.crt"


def test_a_downloaded_file_that_is_not_the_locked_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pypi, "run", FakeRun({CLICK.file: b"tampered", PYYAML.file: b"yaml"}))
    builder = WheelBuilder(tmp_path / "cache", "/usr/bin/python3")
    with pytest.raises(PigsaltError) as err:
        builder.download(PART.install, PART, "https://pypi.org/simple", tmp_path / "links", "Python 3.13")
    assert err.value.message == (
        f"pypi: {CLICK.file} has SHA-256 {digest(b'tampered')}, the lock says {digest(b'click')}"
    )
    monkeypatch.setattr(pypi, "run", FakeRun({PYYAML.file: b"yaml"}))
    with pytest.raises(PigsaltError, match=f"^pypi: {re.escape(CLICK.file)} was not fetched$"):
        builder.download(PART.install, PART, "https://pypi.org/simple", tmp_path / "again", "Python 3.13")
    with pytest.raises(PigsaltError, match=r"the lock's index http://pypi.invalid/simple is not https://"):
        builder.download(PART.install, PART, "http://pypi.invalid/simple", tmp_path / "plain", "Python 3.13")


def test_pigsalts_wheel_is_built_offline_from_the_locked_build_requirements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: Sequence[Any], **_: Any) -> subprocess.CompletedProcess[str]:
        args = [str(a) for a in cmd]
        calls.append(args)
        out = Path(args[args.index("--wheel-dir") + 1])
        (out / "pigsalt-0.1.0-py3-none-any.whl").write_text("x")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(pypi, "run", fake_run)
    tree = make_tree(tmp_path / "src")
    builder = WheelBuilder(tmp_path / "cache", "/usr/bin/python3")
    wheel = builder.build_pigsalt(tree, tmp_path / "out", tmp_path / "work", tmp_path / "links")
    assert wheel.name == "pigsalt-0.1.0-py3-none-any.whl"
    args = calls[0]
    assert args[args.index("wheel") :] == [
        *("wheel", "--quiet", "--use-pep517", "--no-deps", "--no-index"),
        *("--find-links", str(tmp_path / "links"), "--wheel-dir", str(tmp_path / "work" / "pigsalt-wheel")),
        str(tmp_path / "work" / "pigsalt-src"),
    ]


def test_pip_env_keeps_the_network_settings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_CONSTRAINT", "/etc/xdg/pip/constraints.txt")
    monkeypatch.setenv("PIP_INDEX_URL", "http://mirror.invalid/simple")
    monkeypatch.setenv("PIP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = pip_env()
    assert "PIP_CONSTRAINT" not in env and "PIP_INDEX_URL" not in env and "PYTHONPATH" not in env
    assert env["PIP_PROXY"] == "http://proxy.invalid:3128"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_NO_INPUT"] == "1"


@pytest.mark.parametrize(
    ("filename", "python", "expected"),
    [
        ("a-1-py3-none-any.whl", "3.13", True),
        ("a-1-py2.py3-none-any.whl", "3.13", True),
        ("a-1-py314-none-any.whl", "3.13", False),  # needs a newer Python
        ("a-1-py3-none-manylinux_2_17_x86_64.whl", "3.13", True),  # a bundled binary, any Python
        ("a-1-cp313-cp313-manylinux2014_x86_64.whl", "3.13", True),
        ("a-1-cp313-cp313t-manylinux2014_x86_64.whl", "3.13", False),  # free-threaded build
        ("a-1-cp312-abi3-manylinux2014_x86_64.whl", "3.13", True),
        ("a-1-cp312-abi3-manylinux2014_x86_64.whl", "3.11", False),  # abi3 from 3.12 up
        ("a-1-cp311-none-any.whl", "3.13", False),
        ("a-1-2-cp311-cp311-linux_x86_64.whl", "3.11", True),  # with a build tag
        ("a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", "3.10", False),
    ],
)
def test_which_wheels_serve_a_python(filename: str, python: str, expected: bool) -> None:
    assert serves(filename, python) is expected


def test_wheel_tags_expand_compressed_sets() -> None:
    assert wheel_tags("a-1-py2.py3-none-any.whl") == [("py2", "none", "any"), ("py3", "none", "any")]
    with pytest.raises(PigsaltError, match=re.escape("not a wheel file name: a-1.tar.gz")):
        wheel_tags("a-1.tar.gz")


def test_missing_distributions_are_read_from_both_of_pips_messages() -> None:
    output = """\
ERROR: Could not find a version that satisfies the requirement legacy-cgi==2.6.3 (from versions: none)
ERROR: No matching distribution found for legacy-cgi==2.6.3
ERROR: Cannot install timelib==0.3.0 because these package versions have conflicting dependencies.
ERROR: Cannot install a==1, b==2 and c==3 because these package versions have conflicting dependencies.
ERROR: No matching distribution found for legacy-cgi==2.6.3
"""
    assert missing_distributions(output) == ["legacy-cgi==2.6.3", "timelib==0.3.0", "a==1", "b==2", "c==3"]
    assert missing_distributions("Successfully downloaded x\n") == []


def test_a_failed_dry_run_is_one_line_naming_what_is_missing() -> None:
    ok = subprocess.CompletedProcess(["pip"], 0, "", "")
    check_dry_run(ok, "Python 3.13 (trixie)")
    failed = subprocess.CompletedProcess(["pip"], 1, "", "ERROR: No matching distribution found for timelib==0.3.0\n")
    with pytest.raises(PigsaltError) as err:
        check_dry_run(failed, "Python 3.13 (trixie)")
    assert err.value.message == (
        "pypi: the wheelhouse cannot install pigsalt's requirements on Python 3.13 (trixie): "
        "no wheel for timelib==0.3.0"
    )
    other = subprocess.CompletedProcess(["pip"], 1, "", "Looking in links: /pypi\nERROR: something else\n")
    with pytest.raises(PigsaltError, match=r"on Python 3.11 \(bookworm\): ERROR: something else$"):
        check_dry_run(other, "Python 3.11 (bookworm)")
