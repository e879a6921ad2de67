"""The wheelhouse index (PEP 503) and the source hash that decides when pigsalt's wheel is rebuilt."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo.pypi import copy_source, normalize, source_hash, wheel_project, write_simple_index


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
