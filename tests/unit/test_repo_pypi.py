"""The wheelhouse: its index (PEP 503), the source hash, and what another release's Python can share."""

from __future__ import annotations

import hashlib
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo.pypi import (
    check_dry_run,
    copy_source,
    missing_distributions,
    normalize,
    plan_downloads,
    serves,
    source_hash,
    wheel_project,
    wheel_tags,
    write_simple_index,
)


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


# --- wheels for another release's Python ---------------------------------------------------------

WHEELHOUSE_311 = [
    "salt-3008.3-py3-none-any.whl",
    "distlib-0.4.4-py2.py3-none-any.whl",
    "pigsalt-0.1.0-py3-none-any.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
    "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl",
    "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
    "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    "charset_normalizer-3.5.3-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl",
    "psycopg_binary-3.3.9-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
]


def test_the_313_plan_shares_pure_and_stable_abi_wheels_and_fetches_the_rest() -> None:
    plan = plan_downloads(WHEELHOUSE_311, "3.13")
    assert plan.shared == (
        "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
        "distlib-0.4.4-py2.py3-none-any.whl",
        "pigsalt-0.1.0-py3-none-any.whl",
        "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl",
        "salt-3008.3-py3-none-any.whl",
    )
    assert plan.fetch == (
        "charset_normalizer==3.5.3",
        "psycopg_binary==3.3.9",
        "pyzmq==27.3.0",
        "timelib==0.3.0",
    )
    # For the build machine's own Python, everything serves as it is.
    assert plan_downloads(WHEELHOUSE_311, "3.11").fetch == ()


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
