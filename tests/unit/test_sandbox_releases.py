"""Nodes on their own Debian release: layout and state round trip, one image per release,
each node's APT source. No root, no network: the repository and the builds are fakes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import Inventory
from pigsalt.sandbox import image, lifecycle
from pigsalt.sandbox.image import (
    BaseRecipe,
    Image,
    PackageSource,
    check_venv_python,
    ensure_packages,
    ensure_packages_and_images,
    layer_suite,
    salt_recipe,
    wheel_fits,
)
from pigsalt.sandbox.layout import Layout, SandboxNode, SandboxPaths, layout_from_inventory
from pigsalt.sandbox.nodes import prepare_root
from pigsalt.sandbox.state import ProcRef, State, load_state, save_state

MIXED = Layout(
    nodes=(
        SandboxNode.of("meta", "10.10.10.10", "debian12"),
        SandboxNode.of("pg-test-1", "10.10.10.11", "debian13"),
        SandboxNode.of("pg-test-2", "10.10.10.12", "debian13"),
    ),
    master="meta",
)

MIRRORS_12 = ("deb http://m.invalid/debian bookworm main",)
WHEELS = (
    "salt-3008.3-py3-none-any.whl",
    "six-1.17.0-py2.py3-none-any.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
    "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl",
    "pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    "pyzmq-27.3.0-cp313-cp313-manylinux_2_28_x86_64.whl",
    "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    "timelib-0.3.0-cp313-cp313-linux_x86_64.whl",
    "pigsalt-0.1.0-py3-none-any.whl",
)


# --- layout and state ------------------------------------------------------------------


def test_layout_round_trip_keeps_each_nodes_release() -> None:
    data = MIXED.to_dict()
    assert data["nodes"] == [
        {"name": "meta", "ip": "10.10.10.10", "os": "debian12"},
        {"name": "pg-test-1", "ip": "10.10.10.11", "os": "debian13"},
        {"name": "pg-test-2", "ip": "10.10.10.12", "os": "debian13"},
    ]
    assert Layout.from_dict(data) == MIXED
    assert [(r.name, r.codename, r.python) for r in MIXED.releases] == [
        ("debian12", "bookworm", "3.11"),
        ("debian13", "trixie", "3.13"),
    ]


def test_state_file_written_before_releases_loads_as_bookworm(tmp_path: Path) -> None:
    """Sandboxes were all Debian 12 before nodes had a release."""
    paths = SandboxPaths(tmp_path)
    old = {
        "version": 1,
        "phase": "up",
        "layout": {
            "nodes": [{"name": "meta", "ip": "10.10.10.10"}, {"name": "node-1", "ip": "10.10.10.11"}],
            "master": "meta",
        },
        "nodes": {"meta": {"pid": 10, "starttime": 20}},
    }
    paths.state_file.write_text(json.dumps(old))
    state = load_state(paths)
    assert state is not None
    assert [(n.name, n.os) for n in state.layout.nodes] == [("meta", "debian12"), ("node-1", "debian12")]
    assert state.nodes == {"meta": ProcRef(10, 20)}


def test_state_round_trip_with_mixed_releases(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path)
    state = State(layout=MIXED, phase="up", image=["/i/salt-bookworm-1", "/i/base-bookworm-2"])
    save_state(paths, state)
    assert load_state(paths) == state


def test_a_sandbox_on_other_releases_is_another_layout(tmp_path: Path) -> None:
    state = State(layout=MIXED, project_dir=str(tmp_path), inventory_dir=str(tmp_path))
    all_13 = Layout(nodes=tuple(SandboxNode.of(n.name, n.ip, "debian13") for n in MIXED.nodes))
    assert lifecycle._serves_another(state, MIXED, tmp_path, tmp_path) == ""
    assert lifecycle._serves_another(state, all_13, tmp_path, tmp_path) == (
        "another layout (meta: debian12, not debian13)"
    )


def test_layout_from_inventory_takes_each_nodes_release() -> None:
    def node(name: str, ip: str, os: str, meta: bool = False) -> SimpleNamespace:
        return SimpleNamespace(name=name, ip=ip, os=os, meta=meta)

    nodes = [
        node("meta", "10.10.10.10", "debian12", meta=True),
        node("pg-test-1", "10.10.10.11", "debian13"),
    ]
    inventory = cast(Inventory, SimpleNamespace(nodes=nodes, meta_nodes=nodes[:1]))
    assert layout_from_inventory(inventory) == Layout(
        nodes=(
            SandboxNode.of("meta", "10.10.10.10", "debian12"),
            SandboxNode.of("pg-test-1", "10.10.10.11", "debian13"),
        ),
        master="meta",
    )


# --- images per release ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wheel", "on_311", "on_313"),
    [
        ("salt-3008.3-py3-none-any.whl", True, True),
        ("six-1.17.0-py2.py3-none-any.whl", True, True),
        ("cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl", True, True),
        ("psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl", True, True),
        ("pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl", True, False),
        ("pyzmq-27.3.0-cp313-cp313-manylinux_2_28_x86_64.whl", False, True),
        ("future-1.0-cp313-abi3-linux_x86_64.whl", False, True),
        ("old-1.0-py2-none-any.whl", False, False),
        ("not-a-wheel.whl", False, False),
    ],
)
def test_wheel_fits_by_python_and_abi_tags(wheel: str, on_311: bool, on_313: bool) -> None:
    assert (wheel_fits(wheel, "3.11"), wheel_fits(wheel, "3.13")) == (on_311, on_313)


def test_each_releases_salt_recipe_has_its_python_and_its_wheels(tmp_path: Path) -> None:
    for name in WHEELS:
        (tmp_path / name).write_text("")
    bookworm = salt_recipe(BaseRecipe("bookworm", MIRRORS_12), tmp_path)
    trixie = salt_recipe(BaseRecipe("trixie", ("deb http://m.invalid/debian trixie main",)), tmp_path)
    common = {
        "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
        "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl",
        "salt-3008.3-py3-none-any.whl",
        "six-1.17.0-py2.py3-none-any.whl",
    }
    assert (bookworm.suite, bookworm.python) == ("bookworm", "3.11")
    assert set(bookworm.wheels) == common | {
        "pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    }
    assert (trixie.suite, trixie.python) == ("trixie", "3.13")
    assert set(trixie.wheels) == common | {
        "pyzmq-27.3.0-cp313-cp313-manylinux_2_28_x86_64.whl",
        "timelib-0.3.0-cp313-cp313-linux_x86_64.whl",
    }
    # Another release's wheels joining the wheelhouse leave a layer's recipe as it was.
    (tmp_path / "lxml-6.0-cp313-cp313-manylinux_2_28_x86_64.whl").write_text("")
    assert salt_recipe(BaseRecipe("bookworm", MIRRORS_12), tmp_path) == bookworm


def test_no_salt_wheel_for_the_releases_python(tmp_path: Path) -> None:
    (tmp_path / "salt-3008.3-cp311-cp311-linux_x86_64.whl").write_text("")
    with pytest.raises(PigsaltError) as err:
        salt_recipe(BaseRecipe("trixie", ()), tmp_path)
    assert err.value.message == f"{tmp_path}: no salt wheel for Python 3.13 to build the trixie Salt layer from"


def test_layer_names_carry_the_codename() -> None:
    base = BaseRecipe("trixie", ("deb http://m.invalid/debian trixie main",))
    assert base.layer_name == f"base-trixie-{base.digest}"
    assert layer_suite(base.layer_name, "base") == "trixie"
    assert layer_suite("salt-bookworm-0123456789abcdef", "salt") == "bookworm"
    # Layers built before the sandbox ran several releases: all of them bookworm.
    assert layer_suite("base-8258f36533ce27ec", "base") == "bookworm"
    assert layer_suite("base-8258f36533ce27ec.json", "base") is None
    assert layer_suite("salt-trixie-0123456789abcdef", "base") is None


def test_base_recipe_from_host_uses_the_hosts_mirror_for_any_release(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_sources(codename: str) -> tuple[SimpleNamespace, ...]:
        seen.append(codename)
        return (SimpleNamespace(lines=lambda: [f"deb http://m.invalid/debian {codename} main"]),)

    monkeypatch.setattr(image, "sources_for", fake_sources)
    recipe = BaseRecipe.from_host("trixie")
    assert (recipe.suite, recipe.mirrors, seen) == ("trixie", ("deb http://m.invalid/debian trixie main",), ["trixie"])
    assert recipe.digest != BaseRecipe.from_host("bookworm").digest


def test_prune_drops_only_the_same_releases_older_layers(tmp_path: Path) -> None:
    images = tmp_path / "images"
    names = [
        "base-8258f36533ce27ec",  # before releases: bookworm
        "base-bookworm-1111111111111111",
        "base-bookworm-2222222222222222",
        "base-trixie-3333333333333333",
    ]
    for name in names:
        (images / name).mkdir(parents=True)
        (images / f"{name}.json").write_text("{}")
    image._prune(images, "base", "bookworm", images / "base-bookworm-2222222222222222")
    assert sorted(p.name for p in images.iterdir()) == [
        "base-bookworm-2222222222222222",
        "base-bookworm-2222222222222222.json",
        "base-trixie-3333333333333333",
        "base-trixie-3333333333333333.json",
    ]


def test_venv_python_must_be_the_releases(tmp_path: Path) -> None:
    cfg = tmp_path / "opt/pigsalt/salt/pyvenv.cfg"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.13.5\n")
    check_venv_python(tmp_path, "3.13")
    with pytest.raises(PigsaltError) as err:
        check_venv_python(tmp_path, "3.11")
    assert err.value.message == "building the Salt layer: /opt/pigsalt/salt runs on 3.13, expected Python 3.11"


# --- the package source ----------------------------------------------------------------


class FakeRepo:
    """pigsalt.repo's interface: ensure_repo(dest, *, releases, progress) → RepoInfo."""

    DEFAULT_REPO_DIR: Path

    def __init__(self, root: Path, have: tuple[str, ...] | None = None) -> None:
        self.DEFAULT_REPO_DIR = root
        self.calls: list[tuple[Path, tuple[str, ...]]] = []
        self.have = have

    def ensure_repo(self, dest: Path, *, releases: tuple[str, ...] = ("bookworm",), progress: Any = None) -> Any:
        self.calls.append((dest, tuple(releases)))
        (dest / "apt").mkdir(parents=True, exist_ok=True)
        (dest / "pypi").mkdir(exist_ok=True)
        (dest / "pypi" / "pigsalt-0.1.0-py3-none-any.whl").write_text("")
        (dest / "apt" / "pigsalt-archive-keyring.gpg").write_bytes(b"key")
        return SimpleNamespace(
            path=dest,
            apt_dir=dest / "apt",
            pypi_dir=dest / "pypi",
            keyring=dest / "apt" / "pigsalt-archive-keyring.gpg",
            releases=self.have if self.have is not None else tuple(releases),
            release_dir=lambda codename: dest / "apt" / codename,
        )


def test_packages_come_from_one_suite_per_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = FakeRepo(tmp_path / "repo")
    monkeypatch.setattr(image, "_repo_module", lambda: repo)
    packages = ensure_packages(SandboxPaths(tmp_path / "sb"), tmp_path, ["bookworm", "trixie"])
    assert repo.calls == [(tmp_path / "repo", ("bookworm", "trixie"))]
    assert packages.suites == {"bookworm": "apt/bookworm/", "trixie": "apt/trixie/"}
    assert packages.keyring == tmp_path / "repo/apt/pigsalt-archive-keyring.gpg"
    assert packages.pigsalt_wheel.name == "pigsalt-0.1.0-py3-none-any.whl"
    with pytest.raises(PigsaltError) as err:
        packages.suite_path("forky")
    assert err.value.message == (f"pigsalt.repo at {tmp_path}/repo: no APT suite for forky (it has: bookworm, trixie)")


def test_a_repository_without_the_suite_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "_repo_module", lambda: FakeRepo(tmp_path / "repo", have=("bookworm",)))
    with pytest.raises(PigsaltError) as err:
        ensure_packages(SandboxPaths(tmp_path / "sb"), tmp_path, ["bookworm", "trixie"])
    assert err.value.message == f"{tmp_path}/repo: the repository has no suite for trixie"


def test_the_fallback_refuses_trixie_before_building_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "_repo_module", lambda: None)
    monkeypatch.setattr(image, "ensure_base", lambda *_: pytest.fail("built a base layer"))
    with pytest.raises(PigsaltError) as err:
        ensure_packages_and_images(SandboxPaths(tmp_path), tmp_path, MIXED)
    assert err.value.message == (
        "without pigsalt.repo the sandbox has packages for Debian 12 (bookworm) only: "
        "pg-test-1 runs debian13, pg-test-2 runs debian13"
    )
    with pytest.raises(PigsaltError, match=r"\(bookworm\) only: trixie$"):
        ensure_packages(SandboxPaths(tmp_path), tmp_path, ["trixie"])


def test_one_image_per_release_the_nodes_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = SandboxPaths(tmp_path)
    built: list[str] = []
    packages = PackageSource(
        tmp_path / "repo", tmp_path / "repo/apt", tmp_path / "repo/pypi", None, "fake", tmp_path / "p.whl"
    )
    asked: list[list[str]] = []

    def fake_packages(_paths: SandboxPaths, _project: Path, codenames: list[str], _progress: object) -> PackageSource:
        asked.append(list(codenames))
        return packages

    def fake_base(_paths: SandboxPaths, recipe: BaseRecipe, _progress: object) -> Path:
        built.append(recipe.layer_name)
        return tmp_path / f"base-{recipe.suite}"

    def fake_salt(_paths: SandboxPaths, base: Path, recipe: BaseRecipe, pkgs: PackageSource, _p: object) -> Path:
        assert (base, pkgs) == (tmp_path / f"base-{recipe.suite}", packages)
        return tmp_path / f"salt-{recipe.suite}"

    monkeypatch.setattr(image, "_repo_module", lambda: object())
    monkeypatch.setattr(image.BaseRecipe, "from_host", classmethod(lambda cls, c: cls(c, (f"deb m {c} main",))))
    monkeypatch.setattr(image, "ensure_packages", fake_packages)
    monkeypatch.setattr(image, "ensure_base", fake_base)
    monkeypatch.setattr(image, "ensure_salt_layer", fake_salt)

    got, images = ensure_packages_and_images(paths, tmp_path, MIXED)
    assert got == packages
    assert asked == [["bookworm", "trixie"]]
    assert images == {
        "debian12": Image(base=tmp_path / "base-bookworm", salt=tmp_path / "salt-bookworm"),
        "debian13": Image(base=tmp_path / "base-trixie", salt=tmp_path / "salt-trixie"),
    }
    assert sorted(b.split("-")[1] for b in built) == ["bookworm", "trixie"]

    only_13 = Layout(nodes=(SandboxNode.of("meta", "10.10.10.10", "debian13"),))
    _, images = ensure_packages_and_images(paths, tmp_path, only_13)
    assert list(images) == ["debian13"]
    assert asked[-1] == ["trixie"]


def test_each_node_gets_its_releases_suite(tmp_path: Path) -> None:
    packages = PackageSource(
        path=tmp_path / "repo",
        apt_dir=tmp_path / "repo/apt",
        pypi_dir=tmp_path / "repo/pypi",
        keyring=None,
        origin="fake",
        pigsalt_wheel=tmp_path / "p.whl",
        suites={"bookworm": "apt/bookworm/", "trixie": "apt/trixie/"},
    )
    for node in MIXED.nodes:
        root = tmp_path / node.name
        (root / "etc").mkdir(parents=True)
        prepare_root(node, MIXED, root, packages)
    uris = {
        n.name: next(
            line
            for line in (tmp_path / n.name / "etc/apt/sources.list.d/pigsalt.sources").read_text().splitlines()
            if line.startswith("URIs:")
        )
        for n in MIXED.nodes
    }
    assert uris == {
        "meta": "URIs: http://10.10.10.1:8642/apt/bookworm/",
        "pg-test-1": "URIs: http://10.10.10.1:8642/apt/trixie/",
        "pg-test-2": "URIs: http://10.10.10.1:8642/apt/trixie/",
    }
