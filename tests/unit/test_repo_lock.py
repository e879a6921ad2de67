"""The wheel lock: its file, how it is resolved, how it is checked against the recipe, and the
formulas following it (the compiled pillar). pip and the index are replaced by fakes."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import re
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import platform
from pigsalt.pillar.build import node_pillar
from pigsalt.repo.build import SourceTree
from pigsalt.repo.index import IndexFile, PackageIndex
from pigsalt.repo.lock import (
    Resolved,
    check_lock,
    choose_file,
    closure,
    kept_pins,
    lock_changes,
    lock_requirements,
    lock_targets,
    make_lock,
    marker_environment,
    parse_report,
    supported_tags,
)
from pigsalt.repo.recipe import Recipe, load_recipe
from pigsalt.wheellock import LOCK_PATH, LockedFile, PythonLock, WheelLock, load_lock
from tests.conftest import ROOT

repo_cli = importlib.import_module("pigsalt.cli.repo")

CONSTRAINTS = (ROOT / "requirements" / "constraints.txt").read_text()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def committed() -> tuple[Recipe, list[str]]:
    recipe = load_recipe()
    return recipe, lock_requirements(recipe, SourceTree(ROOT).install_requires())


# --- the committed lock ---------------------------------------------------------------------------


def test_the_committed_lock_matches_the_recipe_setup_cfg_and_the_constraints() -> None:
    recipe, requirements = committed()
    assert check_lock(load_lock(), recipe, requirements, CONSTRAINTS) == []


def test_the_committed_lock_is_written_as_pigsalt_repo_lock_writes_it() -> None:
    text = LOCK_PATH.read_text()
    assert WheelLock.from_text(text).render() == text
    lock = load_lock()
    assert [p.python for p in lock.pythons] == ["3.11", "3.13"]
    assert lock.index_url == "https://pypi.org/simple"
    for part in lock.pythons:
        sdists = {f.name for f in part.install if not f.is_wheel}
        assert {"salt", "timelib"} <= sdists  # no wheel on PyPI: compiled in the builder root
        assert all(f.url.startswith("https://files.pythonhosted.org/") for f in part.install if not f.is_wheel)
        assert {f.name for f in part.build} >= {"cython", "setuptools", "wheel"}
    # 3.13's own compiled wheels, not 3.11's.
    assert lock.python("3.13").find("psycopg-binary").file.startswith("psycopg_binary-3.3.9-cp313-cp313-")  # type: ignore[union-attr]
    assert lock.python("3.11").find("pyyaml").file.startswith("pyyaml-6.0.4-cp311-cp311-")  # type: ignore[union-attr]


def test_what_the_formulas_install_is_in_the_recipe_and_the_lock() -> None:
    recipe = load_recipe()
    for requirement in platform.PATRONI_REQUIREMENTS:
        assert any(req.startswith(requirement) for req in recipe.requirements), requirement
    for part in load_lock().pythons:
        assert part.version("patroni").startswith("4.")
        assert part.version("psycopg") == part.version("psycopg-binary")


# --- the file ------------------------------------------------------------------------------------

SMALL = WheelLock(
    "https://pypi.org/simple",
    (
        PythonLock(
            "3.13",
            "manylinux_2_41_x86_64",
            (
                LockedFile("patroni", "4.1.5", "patroni-4.1.5-py3-none-any.whl", sha("patroni")),
                LockedFile(
                    "salt", "3008.3", "salt-3008.3.tar.gz", sha("salt"), "https://files.example/s/salt-3008.3.tar.gz"
                ),
            ),
            (LockedFile("wheel", "0.48.0", "wheel-0.48.0-py3-none-any.whl", sha("wheel")),),
        ),
    ),
)


def test_the_lock_renders_one_file_per_line_and_reads_back() -> None:
    text = SMALL.render()
    assert WheelLock.from_text(text) == SMALL
    line = next(line for line in text.splitlines() if '"patroni"' in line)
    assert line.strip() == (
        '{"name": "patroni", "version": "4.1.5", "file": "patroni-4.1.5-py3-none-any.whl", '
        f'"sha256": "{sha("patroni")}"}},'
    )
    assert json.loads(text)["pythons"]["3.13"]["platform"] == "manylinux_2_41_x86_64"
    assert SMALL.python("3.13").glibc == (2, 41) and SMALL.python("3.13").machine == "x86_64"
    assert SMALL.python("3.13").find("Salt") == SMALL.pythons[0].install[1]
    assert LockedFile("salt", "3008.3", "salt-3008.3.tar.gz", "ab" * 32).pin() == (
        f"salt==3008.3 --hash=sha256:{'ab' * 32}"
    )


def test_every_problem_of_a_lock_is_reported_at_once_with_its_path() -> None:
    data = json.loads(SMALL.render())
    part = data["pythons"]["3.13"]
    part["install"][0]["sha256"] = "nothex"
    part["install"][1]["url"] = "http://files.example/salt-3008.3.tar.gz"
    part["build"][0]["file"] = "wheel-0.47.0-py3-none-any.whl"
    part["platform"] = "linux_x86_64"
    data["index_url"] = "http://pypi.invalid/simple"
    data["pythons"]["3.12"] = {"platform": "manylinux_2_36_x86_64", "install": "x", "build": []}
    with pytest.raises(PigsaltError) as err:
        WheelLock.from_text(json.dumps(data), origin="w.lock")
    assert err.value.message == (
        "w.lock: index_url: expected an https:// URL; "
        "pythons.3.13.platform: expected manylinux_<major>_<minor>_<machine>; "
        "pythons.3.13.install.patroni.sha256: expected 64 lowercase hex digits; "
        "pythons.3.13.install.salt.url: expected the https:// URL of salt-3008.3.tar.gz; "
        "pythons.3.13.build.wheel.file: wheel-0.47.0-py3-none-any.whl is not a wheel of wheel 0.48.0; "
        "pythons.3.12.install: expected a list of files"
    )
    with pytest.raises(PigsaltError, match=r"^w.lock: not valid JSON"):
        WheelLock.from_text("{", origin="w.lock")


def test_a_python_the_lock_lacks_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PigsaltError) as err:
        SMALL.python("3.11")
    assert err.value.message == "wheels.lock holds no Python 3.11 (it has 3.13): run `pigsalt repo lock`"
    with pytest.raises(PigsaltError, match=r"^wheels.lock: no psycopg for Python 3.13: run `pigsalt repo lock`$"):
        SMALL.python("3.13").version("psycopg")
    with pytest.raises(PigsaltError, match=r"^cannot read the wheel lock .*: No such file or directory"):
        load_lock(tmp_path / "none.lock")


# --- checked against the recipe -----------------------------------------------------------------


def with_version(lock: WheelLock, python: str, name: str, version: str) -> WheelLock:
    """``lock`` with ``name`` at ``version`` on ``python`` (its file renamed to match)."""
    parts = []
    for part in lock.pythons:
        if part.python == python:
            install = tuple(
                dataclasses.replace(f, version=version, file=f.file.replace(f"-{f.version}", f"-{version}"))
                if f.name == name
                else f
                for f in part.install
            )
            part = dataclasses.replace(part, install=install)
        parts.append(part)
    return dataclasses.replace(lock, pythons=tuple(parts))


def test_a_requirement_the_lock_does_not_satisfy_is_reported_for_each_python() -> None:
    recipe, requirements = committed()
    stricter = [r.replace("patroni[etcd3]>=4,<5", "patroni[etcd3]>=5") for r in requirements]
    patroni = load_lock().python("3.11").version("patroni")
    assert check_lock(load_lock(), recipe, stricter, CONSTRAINTS) == [
        f"Python 3.11: patroni[etcd3]>=5 is not satisfied by patroni {patroni}",
        f"Python 3.13: patroni[etcd3]>=5 is not satisfied by patroni {patroni}",
    ]
    assert check_lock(load_lock(), recipe, [*requirements, "legacy-cgi"], CONSTRAINTS) == [
        "Python 3.11: legacy-cgi is not in the lock's install files",
        "Python 3.13: legacy-cgi is not in the lock's install files",
    ]
    # A requirement whose marker leaves a Python out is not asked of it.
    only = [*requirements, 'legacy-cgi; python_version >= "3.13"']
    assert check_lock(load_lock(), recipe, only, CONSTRAINTS) == [
        'Python 3.13: legacy-cgi; python_version >= "3.13" is not in the lock\'s install files'
    ]


def test_a_python_missing_from_the_lock_or_one_no_release_runs_is_reported() -> None:
    recipe, requirements = committed()
    lock = load_lock()
    only_311 = dataclasses.replace(lock, pythons=(lock.python("3.11"),))
    assert check_lock(only_311, recipe, requirements, CONSTRAINTS) == ["Python 3.13 (trixie): not in the lock"]
    extra = dataclasses.replace(lock, pythons=(*lock.pythons, dataclasses.replace(lock.python("3.13"), python="3.14")))
    assert check_lock(extra, recipe, requirements, CONSTRAINTS) == ["Python 3.14: no release of the recipe runs it"]
    other_glibc = dataclasses.replace(
        lock, pythons=(lock.python("3.11"), dataclasses.replace(lock.python("3.13"), platform="manylinux_2_36_x86_64"))
    )
    assert check_lock(other_glibc, recipe, requirements, CONSTRAINTS) == [
        "Python 3.13: locked for manylinux_2_36_x86_64, its releases take manylinux_2_41_x86_64"
    ]


def test_a_version_the_constraints_pin_otherwise_and_a_missing_build_requirement_are_reported() -> None:
    recipe, requirements = committed()
    lock = with_version(load_lock(), "3.13", "pyyaml", "6.0.3")
    assert check_lock(lock, recipe, requirements, CONSTRAINTS) == [
        "Python 3.13: pyyaml 6.0.3, requirements/constraints.txt pins 6.0.4"
    ]
    more = Recipe.from_text(recipe.text.replace("    - Cython\n", "    - Cython\n    - meson\n"))
    assert check_lock(load_lock(), more, requirements, CONSTRAINTS) == [
        "Python 3.11: meson is not in the lock's build files",
        "Python 3.13: meson is not in the lock's build files",
    ]


def test_a_build_refuses_a_lock_that_disagrees(tmp_path: Path) -> None:
    recipe = Recipe.from_text(load_recipe().text.replace("patroni[etcd3]>=4,<5", "patroni[etcd3]>=5"))
    (tmp_path / "recipe.yml").write_text(recipe.text)
    from pigsalt.repo import check_wheel_lock

    with pytest.raises(PigsaltError) as err:
        check_wheel_lock(LOCK_PATH, recipe_path=tmp_path / "recipe.yml", source=ROOT)
    assert err.value.message.startswith(f"{LOCK_PATH}: does not match the recipe: Python 3.11: patroni[etcd3]>=5")
    assert err.value.message.endswith(": run `pigsalt repo lock`")


# --- the formulas follow the lock ----------------------------------------------------------------


def test_the_pillar_carries_the_patroni_of_the_lock_for_each_nodes_python(example: Any, tmp_path: Path) -> None:
    path = example("pigsty-v1")
    bumped = tmp_path / "wheels.lock"
    bumped.write_text(with_version(load_lock(), "3.13", "patroni", "4.1.6").render())
    inv, _ = open_inventory(path)
    pythons = {node.name: node.release.python for node in inv.nodes}
    assert pythons["pg-meta-1"] == "3.13" and pythons["pg-test-1"] == "3.11"
    psycopg = load_lock().python("3.13").version("psycopg")

    meta = node_pillar(path, "pg-meta-1", lock=load_lock(bumped))[0]["pigsty"]["pg"]["patroni"]
    assert (meta["version"], meta["requirements"]) == (
        "4.1.6",
        ["patroni[etcd3]==4.1.6", f"psycopg[binary]=={psycopg}"],
    )
    test = node_pillar(path, "pg-test-1", lock=load_lock(bumped))[0]["pigsty"]["pg"]["patroni"]
    assert test["version"] == load_lock().python("3.11").version("patroni")
    # Without a lock given: the packaged one.
    default = node_pillar(path, "pg-meta-1")[0]["pigsty"]["pg"]["patroni"]
    assert default["version"] == load_lock().python("3.13").version("patroni")


# --- resolving -----------------------------------------------------------------------------------

ENV_311, ENV_313 = marker_environment("3.11", "x86_64"), marker_environment("3.13", "x86_64")
POOL = {
    "psycopg": Resolved(
        "psycopg",
        "3.3.9",
        (
            'typing-extensions>=4.6; python_version < "3.13"',
            'psycopg-binary==3.3.9; implementation_name != "pypy" and extra == "binary"',
            'psycopg-c==3.3.9; extra == "c"',
        ),
    ),
    "psycopg-binary": Resolved("psycopg-binary", "3.3.9"),
    "typing-extensions": Resolved("typing-extensions", "4.16.0"),
    "salt": Resolved("salt", "3008.3", ('legacy-cgi>=2.6; python_version >= "3.13"', "pyyaml")),
    "pyyaml": Resolved("pyyaml", "6.0.4"),
}


def test_the_closure_follows_each_pythons_markers_and_the_extras_asked_for() -> None:
    assert closure(["psycopg[binary]>=3.1"], POOL, ENV_311, "Python 3.11").names == (
        "psycopg",
        "psycopg-binary",
        "typing-extensions",
    )
    assert closure(["psycopg[binary]>=3.1"], POOL, ENV_313, "Python 3.13").names == ("psycopg", "psycopg-binary")
    # Asked for without the extra first, then with it: followed again.
    assert closure(["psycopg", "psycopg[binary]"], POOL, ENV_313, "3.13").names == ("psycopg", "psycopg-binary")
    assert closure(["psycopg"], POOL, ENV_313, "3.13").names == ("psycopg",)
    # A distribution only 3.13's markers pull in is named, not invented.
    found = closure(["salt==3008.3"], POOL, ENV_313, "Python 3.13")
    assert found.names == ("pyyaml", "salt") and found.missing == ("legacy-cgi>=2.6",)
    assert closure(["salt==3008.3"], POOL, ENV_311, "Python 3.11").missing == ()


def test_a_pool_version_another_pythons_markers_chose_is_an_error() -> None:
    pool = {"a": Resolved("a", "1.0", ('b<2; python_version < "3.12"', 'b>=2; python_version >= "3.12"')), **POOL}
    pool["b"] = Resolved("b", "1.5")
    assert closure(["a"], pool, ENV_311, "Python 3.11").names == ("a", "b")
    with pytest.raises(PigsaltError) as err:
        closure(["a"], pool, ENV_313, "Python 3.13")
    assert err.value.message == (
        'Python 3.13 needs b>=2; python_version >= "3.12", but the resolve chose b 1.5 (for another Python\'s markers)'
    )


def files_of(*names: str, requires_python: str | None = None) -> list[IndexFile]:
    return [IndexFile(n, f"https://files.example/{n}", sha(n), requires_python) for n in names]


def test_the_file_is_the_one_pip_takes_on_that_python() -> None:
    tags_313 = supported_tags("3.13", "manylinux_2_41_x86_64")
    tags_311 = supported_tags("3.11", "manylinux_2_36_x86_64")
    listing = files_of(
        "pyzmq-27.3.0.tar.gz",
        "pyzmq-27.3.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
        "pyzmq-27.3.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
        "pyzmq-27.3.0-cp313-cp313-manylinux_2_39_x86_64.whl",
        "pyzmq-27.3.0-cp313-cp313-musllinux_1_2_x86_64.whl",
        "pyzmq-27.3.0-cp313-cp313-win_amd64.whl",
        "pyzmq-27.2.0-cp313-cp313-manylinux_2_28_x86_64.whl",
    )
    pick = choose_file(listing, "pyzmq", "27.3.0", "3.13", tags_313)
    assert pick is not None and pick.filename == "pyzmq-27.3.0-cp313-cp313-manylinux_2_39_x86_64.whl"
    # bookworm's glibc (2.36) cannot take manylinux_2_39; its own ABI first.
    pick = choose_file(listing, "pyzmq", "27.3.0", "3.11", tags_311)
    assert pick is not None and pick.filename.startswith("pyzmq-27.3.0-cp311-cp311-")
    # No wheel for that Python: the sdist.
    only = files_of("timelib-0.3.0-cp39-cp39-macosx_12_0_arm64.whl", "timelib-0.3.0.zip", "timelib-0.3.0.tar.gz")
    pick = choose_file(only, "timelib", "0.3.0", "3.13", tags_313)
    assert pick is not None and pick.filename == "timelib-0.3.0.tar.gz"
    # Pure wheels last among wheels, before any sdist; a yanked file or one for newer Pythons never.
    pure = files_of("a-1.0-py3-none-any.whl", "a-1.0.tar.gz")
    assert choose_file(pure, "a", "1.0", "3.13", tags_313) == pure[0]
    yanked = [dataclasses.replace(pure[0], yanked=True), pure[1]]
    assert choose_file(yanked, "a", "1.0", "3.13", tags_313) == pure[1]
    assert choose_file(files_of("a-1.0.tar.gz", requires_python=">=3.12"), "a", "1.0", "3.11", tags_311) is None


def test_the_targets_are_the_recipes_pythons_at_their_releases_glibc() -> None:
    assert lock_targets(load_recipe(), "x86_64") == {
        "3.11": "manylinux_2_36_x86_64",
        "3.13": "manylinux_2_41_x86_64",
    }


def test_a_pip_report_gives_each_distribution_its_requirements() -> None:
    report = {
        "version": "1",
        "install": [
            {"metadata": {"name": "Jinja2", "version": "3.1.6", "requires_dist": ["MarkupSafe>=2.0"]}},
            {"metadata": {"name": "MarkupSafe", "version": "3.0.4"}},
        ],
    }
    assert parse_report(report) == {
        "jinja2": Resolved("jinja2", "3.1.6", ("MarkupSafe>=2.0",)),
        "markupsafe": Resolved("markupsafe", "3.0.4"),
    }
    with pytest.raises(PigsaltError, match="pip's installation report is not what pigsalt reads"):
        parse_report({"install": [{}]})


class FakeIndex(PackageIndex):
    """Every version has a pure wheel, but salt (an sdist only) and pyyaml (one wheel per Python)."""

    def __init__(self) -> None:
        super().__init__("https://pypi.org/simple")
        self.asked: list[str] = []

    def files(self, project: str) -> list[IndexFile]:
        self.asked.append(project)
        versions = {"salt": "3008.3", "pyyaml": "6.0.4", "legacy-cgi": "2.6.3", "wheel": "0.48.0"}
        version = versions[project]
        if project == "salt":
            return files_of(f"salt-{version}.tar.gz")
        if project == "pyyaml":
            return files_of(*(f"pyyaml-{version}-cp3{m}-cp3{m}-manylinux2014_x86_64.whl" for m in (11, 13)))
        return files_of(f"{project.replace('-', '_')}-{version}-py3-none-any.whl")


def test_make_lock_resolves_once_and_again_for_what_one_python_alone_needs(tmp_path: Path) -> None:
    asked: list[tuple[list[str], list[str]]] = []
    pool = {
        "salt": Resolved("salt", "3008.3", ('legacy-cgi>=2.6; python_version >= "3.13"', "pyyaml")),
        "pyyaml": Resolved("pyyaml", "6.0.4"),
        "wheel": Resolved("wheel", "0.48.0"),
    }

    def resolve(requirements: Sequence[str], pins: Sequence[str]) -> dict[str, Resolved]:
        asked.append((list(requirements), list(pins)))
        found = dict(pool)
        if any(r.startswith("legacy-cgi") for r in requirements):
            found["legacy-cgi"] = Resolved("legacy-cgi", "2.6.3")
        return found

    text = load_recipe().text
    start, end = text.index("  build_requirements:\n"), text.index("  # The root those builds run in")
    recipe = Recipe.from_text(text[:start] + "  build_requirements:\n    - wheel\n" + text[end:])
    messages: list[str] = []
    index = FakeIndex()
    lock = make_lock(
        recipe, ["salt==3008.3"], "", resolve=resolve, index=index, machine="x86_64", progress=messages.append
    )
    assert asked == [(["salt==3008.3"], []), (["wheel"], []), (["salt==3008.3", "legacy-cgi>=2.6"], [])]
    assert "lock: Python 3.13 also needs legacy-cgi>=2.6: resolving again with it" in messages
    assert sorted(index.asked) == ["legacy-cgi", "pyyaml", "salt", "wheel"]
    files = {p.python: [f.file for f in p.install] for p in lock.pythons}
    assert files == {
        "3.11": ["pyyaml-6.0.4-cp311-cp311-manylinux2014_x86_64.whl", "salt-3008.3.tar.gz"],
        "3.13": [
            "legacy_cgi-2.6.3-py3-none-any.whl",
            "pyyaml-6.0.4-cp313-cp313-manylinux2014_x86_64.whl",
            "salt-3008.3.tar.gz",
        ],
    }
    salt = lock.python("3.13").find("salt")
    assert salt == LockedFile("salt", "3008.3", "salt-3008.3.tar.gz", sha("salt-3008.3.tar.gz"), salt.url)  # type: ignore[union-attr]
    assert [f.file for f in lock.python("3.11").build] == ["wheel-0.48.0-py3-none-any.whl"]
    assert WheelLock.from_text(lock.render()) == lock

    # Made again from that lock: its versions are kept (as constraints to pip).
    asked.clear()
    make_lock(recipe, ["salt==3008.3"], "pyyaml==6.0.4\n", resolve=resolve, index=index, machine="x86_64", keep=lock)
    assert asked[0] == (["salt==3008.3"], ["legacy-cgi==2.6.3", "salt==3008.3", "wheel==0.48.0"])


def test_kept_versions_yield_to_the_constraints_and_to_changed_requirements() -> None:
    lock = with_version(load_lock(), "3.13", "patroni", "4.1.6")  # two versions: not kept
    pins = kept_pins(lock, ["patroni[etcd3]>=4,<5", "psycopg2-binary>=3"], {"pyyaml": "6.0.4"})
    assert not any(p.startswith(("patroni==", "pyyaml==", "psycopg2-binary==")) for p in pins)
    assert "ydiff==1.4.2" in pins


def test_a_resolve_that_fails_with_kept_versions_says_how_to_let_them_move() -> None:
    def resolve(requirements: Sequence[str], pins: Sequence[str]) -> dict[str, Resolved]:
        raise PigsaltError("pip could not resolve salt==3008.3: ERROR: ResolutionImpossible")

    with pytest.raises(PigsaltError) as err:
        make_lock(load_recipe(), ["salt==3008.3"], "", resolve=resolve, index=FakeIndex(), machine="x86_64", keep=SMALL)
    assert err.value.message == (
        "pip could not resolve salt==3008.3: ERROR: ResolutionImpossible (with the current lock's versions kept: "
        "`pigsalt repo lock --upgrade` lets them move)"
    )


def test_lock_changes_name_each_version_that_moved() -> None:
    old = load_lock()
    new = with_version(with_version(old, "3.11", "patroni", "4.1.6"), "3.13", "patroni", "4.1.6")
    new = with_version(new, "3.13", "ydiff", "1.5.0")
    assert lock_changes(old, new) == ["patroni 4.1.5 -> 4.1.6", "ydiff 1.4.2 -> 1.5.0 (Python 3.13)"]
    assert lock_changes(None, new) == []
    part = new.python("3.13")
    smaller = dataclasses.replace(
        new, pythons=(new.python("3.11"), dataclasses.replace(part, install=part.install[1:]))
    )
    assert lock_changes(new, smaller) == [f"- {part.install[0].name} {part.install[0].version} (Python 3.13)"]


# --- the index -----------------------------------------------------------------------------------


def test_the_index_lists_a_projects_files_from_its_json_page() -> None:
    seen: list[tuple[str, str | None]] = []

    def opener(request: urllib.request.Request, timeout: float) -> IO[bytes]:
        seen.append((request.full_url, request.get_header("Accept")))
        page = {
            "files": [
                {"filename": "a-1.0.tar.gz", "url": "../../packages/a-1.0.tar.gz", "hashes": {"sha256": "ab" * 32}},
                {"filename": "a-0.9.tar.gz", "url": "https://f.example/a-0.9.tar.gz", "hashes": {"md5": "x"}},
                {
                    "filename": "a-1.0-py3-none-any.whl",
                    "url": "https://f.example/a-1.0-py3-none-any.whl",
                    "hashes": {"sha256": "cd" * 32},
                    "requires-python": ">=3.9",
                    "yanked": "broken",
                },
            ]
        }
        return io.BytesIO(json.dumps(page).encode())

    index = PackageIndex("https://pypi.org/simple/", opener=opener)
    assert index.files("A_Package") == [
        IndexFile("a-1.0.tar.gz", "https://pypi.org/packages/a-1.0.tar.gz", "ab" * 32),
        IndexFile("a-1.0-py3-none-any.whl", "https://f.example/a-1.0-py3-none-any.whl", "cd" * 32, ">=3.9", True),
    ]
    assert seen == [("https://pypi.org/simple/a-package/", "application/vnd.pypi.simple.v1+json")]
    with pytest.raises(PigsaltError, match="must be reached over HTTPS"):
        PackageIndex("http://pypi.invalid/simple")


def test_a_download_is_kept_only_with_its_locked_hash(tmp_path: Path) -> None:
    def opener(request: urllib.request.Request, timeout: float) -> IO[bytes]:
        return io.BytesIO(b"sdist bytes")

    index = PackageIndex(opener=opener)
    dest = tmp_path / "a-1.0.tar.gz"
    assert index.fetch("https://f.example/a-1.0.tar.gz", dest, sha("sdist bytes")) == dest
    assert dest.read_bytes() == b"sdist bytes"
    with pytest.raises(PigsaltError, match=re.escape(f"SHA-256 {sha('sdist bytes')}, the lock says {'0' * 64}")):
        index.fetch("https://f.example/a-1.0.tar.gz", tmp_path / "b.tar.gz", "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-1.0.tar.gz"]
    with pytest.raises(PigsaltError, match="not https://"):
        index.fetch("http://f.example/a-1.0.tar.gz", tmp_path / "c.tar.gz", "0" * 64)


# --- pigsalt repo lock ---------------------------------------------------------------------------


def test_repo_lock_check_exits_0_on_the_committed_lock_and_1_on_a_stale_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["repo", "lock", "--check"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{LOCK_PATH}: matches the recipe, setup.cfg and requirements/constraints.txt\n"
    stale = tmp_path / "wheels.lock"
    stale.write_text(with_version(load_lock(), "3.13", "pyyaml", "6.0.3").render())
    result = CliRunner().invoke(main, ["repo", "lock", "--check", "--lock-file", str(stale)])
    assert result.exit_code == 1
    assert result.output == (
        f"{stale}: does not match the recipe: Python 3.13: pyyaml 6.0.3, requirements/constraints.txt pins 6.0.4: "
        "run `pigsalt repo lock`\n"
    )


def test_repo_lock_prints_each_python_and_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_lock(**kwargs: Any) -> tuple[WheelLock, list[str]]:
        calls.append(kwargs)
        kwargs["progress"]("lock: resolving")
        return SMALL, ["patroni 4.1.4 -> 4.1.5"]

    monkeypatch.setattr(repo_cli, "lock_repo", fake_lock)
    target = tmp_path / "w.lock"
    result = CliRunner().invoke(main, ["repo", "lock", "--upgrade", "--lock-file", str(target)])
    assert result.exit_code == 0, result.output
    assert [(c["lock_path"], c["upgrade"], c["index_url"]) for c in calls] == [(target, True, None)]
    assert result.output == (
        "lock: resolving\n"
        "Python 3.13 (manylinux_2_41_x86_64): 2 files, 1 sdists compiled by the build: salt-3008.3.tar.gz; "
        "1 to compile them\n"
        "patroni 4.1.4 -> 4.1.5\n"
        f"written: {target}\n"
    )
