"""Commands and files the sandbox builds: pure functions, no root, no network."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from pigsalt.sandbox import image as image_mod
from pigsalt.sandbox.image import (
    MINION_UNIT,
    BaseRecipe,
    Image,
    PackageSource,
    SaltRecipe,
    mmdebstrap_argv,
    recipe_hash,
    wheel_names,
)
from pigsalt.sandbox.layout import DEFAULT_LAYOUT, SandboxPaths
from pigsalt.sandbox.network import bridge_argvs, cut_argv, guard_route_argv, heal_argv, http_server_argv
from pigsalt.sandbox.nodes import (
    Bind,
    apt_sources,
    hosts_file,
    mount_overlay_argv,
    networkd_config,
    node_env,
    nsenter_argv,
    nspawn_boot_argv,
)

NODE1 = DEFAULT_LAYOUT.node("node-1")


def test_recipe_hash_is_stable_and_order_insensitive_for_keys() -> None:
    assert recipe_hash({"a": 1, "b": [2, 3]}) == recipe_hash({"b": [2, 3], "a": 1})
    assert len(recipe_hash({})) == 16


MIRRORS = ("deb http://mirror.invalid/debian bookworm main",)


def test_base_recipe_changes_with_suite_mirrors_packages_and_build_version() -> None:
    base = BaseRecipe("bookworm", MIRRORS)
    assert base.digest == BaseRecipe("bookworm", MIRRORS).digest
    assert BaseRecipe("trixie", MIRRORS).digest != base.digest
    assert BaseRecipe("bookworm", (*MIRRORS, "deb http://other.invalid/debian bookworm main")).digest != base.digest
    assert BaseRecipe("bookworm", MIRRORS, packages=(*base.packages, "vim")).digest != base.digest
    assert BaseRecipe("bookworm", MIRRORS, build_version=base.build_version + 1).digest != base.digest


def test_salt_recipe_changes_with_suite_python_salt_version_wheels_and_base() -> None:
    wheels = ("salt-3008.3-py3-none-any.whl",)
    recipe = SaltRecipe(suite="bookworm", base="b1", python="3.11", salt_version="3008.3", wheels=wheels)
    for changed in (
        SaltRecipe(suite="trixie", base="b1", python="3.11", salt_version="3008.3", wheels=wheels),
        SaltRecipe(suite="bookworm", base="b2", python="3.11", salt_version="3008.3", wheels=wheels),
        SaltRecipe(suite="bookworm", base="b1", python="3.13", salt_version="3008.3", wheels=wheels),
        SaltRecipe(suite="bookworm", base="b1", python="3.11", salt_version="3007.15", wheels=wheels),
        SaltRecipe(suite="bookworm", base="b1", python="3.11", salt_version="3008.3", wheels=()),
    ):
        assert changed.digest != recipe.digest


def test_wheel_names_leave_out_pigsalt(tmp_path: Path) -> None:
    for name in ("salt-3008.3-py3-none-any.whl", "pigsalt-0.1.0-py3-none-any.whl", "click-8-py3-none-any.whl"):
        (tmp_path / name).write_text("")
    (tmp_path / "index.html").write_text("")
    assert wheel_names(tmp_path) == ("click-8-py3-none-any.whl", "salt-3008.3-py3-none-any.whl")


def test_mmdebstrap_argv() -> None:
    mirror = "deb http://mirror.invalid/debian trixie main"
    argv = mmdebstrap_argv(BaseRecipe("trixie", (mirror,), packages=("systemd", "python3")), Path("/x/base"))
    assert argv[:5] == [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        "--include=systemd,python3",
        "--aptopt=Acquire::Retries=3",
    ]
    assert argv[5:7] == ["trixie", "/x/base"]
    assert argv[7:] == [mirror]


def test_the_salt_layer_is_built_offline_in_its_release_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pypi = tmp_path / "repo" / "pypi"
    pypi.mkdir(parents=True)
    (pypi / "salt-3008.3-py3-none-any.whl").write_text("x")
    packages = PackageSource(tmp_path / "repo", tmp_path / "repo/apt", pypi, None, "fake", tmp_path / "p.whl")
    runs: list[tuple[Path, list[str], dict[str, Any]]] = []

    def fake_run_in_root(root: Path, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        runs.append((root, list(command), kwargs))
        upper = root.parent / "upper"  # what the overlay would have written
        (upper / "opt/pigsalt/salt").mkdir(parents=True, exist_ok=True)
        (upper / "opt/pigsalt/salt/pyvenv.cfg").write_text("version = 3.13.5\n")
        (upper / "mnt/pypi").mkdir(parents=True, exist_ok=True)
        return subprocess.CompletedProcess(list(command), 0, "", "")

    monkeypatch.setattr(image_mod, "require_tools", lambda _tools: None)
    monkeypatch.setattr(image_mod, "run", lambda _argv, **_kw: None)  # the overlay mount
    monkeypatch.setattr(image_mod, "run_in_root", fake_run_in_root)
    recipe = BaseRecipe("trixie", ("deb m trixie main",))

    layer = image_mod.ensure_salt_layer(SandboxPaths(tmp_path / "sb"), tmp_path / "base", recipe, packages)

    assert layer.name.startswith("salt-trixie-")
    build_root = tmp_path / "sb/images" / f".build-{layer.name}" / "root"
    common = {
        "machine": "pigsalt-build-trixie",
        "cgroup": "build-trixie",
        "cgroup_top": "pigsalt-sandbox",
        "binds_ro": [(pypi, "/mnt/pypi")],
        "timeout": 1200,
    }
    venv = ["/usr/bin/python3", "-m", "venv", "/opt/pigsalt/salt"]
    pip = ["/opt/pigsalt/salt/bin/pip", "install", "--quiet", "--no-index", "--find-links", "/mnt/pypi"]
    pip += ["--disable-pip-version-check", "salt==3008.3"]
    assert runs == [
        (build_root, venv, {**common, "what": "building the Salt layer: " + " ".join(venv)}),
        (build_root, pip, {**common, "what": "building the Salt layer: " + " ".join(pip)}),
    ]


def test_minion_unit_stops_fast_and_comes_back_after_a_failed_start() -> None:
    assert "TimeoutStopSec=3" in MINION_UNIT
    assert "ExecStart=/opt/pigsalt/salt/bin/salt-minion" in MINION_UNIT
    # A restart whose stop timed out sometimes starts a minion that exits at once.
    assert "Restart=on-failure" in MINION_UNIT.splitlines()


def test_guard_route_and_bridge_commands() -> None:
    assert guard_route_argv("add", DEFAULT_LAYOUT) == [
        "ip",
        "route",
        "add",
        "unreachable",
        "10.10.10.0/24",
        "metric",
        "4242",
    ]
    assert bridge_argvs(DEFAULT_LAYOUT) == [
        ["ip", "link", "add", "pigsalt-br0", "type", "bridge"],
        ["ip", "addr", "add", "10.10.10.1/24", "dev", "pigsalt-br0"],
        ["ip", "link", "set", "pigsalt-br0", "up"],
    ]
    assert cut_argv(NODE1) == ["ip", "link", "set", "vb-node-1", "down"]
    assert heal_argv(NODE1) == ["ip", "link", "set", "vb-node-1", "up"]


def test_http_server_binds_the_bridge_address_only() -> None:
    assert http_server_argv(DEFAULT_LAYOUT, Path("/var/lib/pigsalt/repo")) == [
        "/usr/bin/python3",
        "-m",
        "http.server",
        "--bind",
        "10.10.10.1",
        "--directory",
        "/var/lib/pigsalt/repo",
        "8642",
    ]


def test_overlay_mount_stacks_salt_over_base(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path)
    image = Image(base=tmp_path / "images/base-1", salt=tmp_path / "images/salt-2")
    node_dir = tmp_path / "nodes" / "node-1"
    assert mount_overlay_argv(NODE1, image, paths) == [
        "mount",
        "-t",
        "overlay",
        "pigsalt-node-1",
        "-o",
        f"lowerdir={image.salt}:{image.base},upperdir={node_dir}/upper,workdir={node_dir}/work",
        f"{node_dir}/root",
    ]


def test_nspawn_boot_argv() -> None:
    argv = nspawn_boot_argv(
        NODE1,
        DEFAULT_LAYOUT,
        Path("/n/root"),
        [Bind(Path("/src/salt"), "/srv/pigsalt/project/salt"), Bind(Path("/inv"), "/srv/inv", read_only=False)],
    )
    assert argv == [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--directory",
        "/n/root",
        "--machine=node-1",
        "--hostname=node-1",
        "--network-bridge=pigsalt-br0",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        "--bind-ro=/src/salt:/srv/pigsalt/project/salt",
        "--bind=/inv:/srv/inv",
    ]


def test_nsenter_takes_the_nodes_root_and_cwd() -> None:
    assert nsenter_argv(123, ["salt-call", "test.ping"]) == [
        "nsenter",
        "--target",
        "123",
        "--all",
        "--root",
        "--wd",
        "--",
        "salt-call",
        "test.ping",
    ]


def test_node_env_is_clean() -> None:
    assert node_env() == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "USER": "root",
    }
    assert node_env("xterm")["TERM"] == "xterm"


def test_networkd_config_has_no_gateway() -> None:
    text = networkd_config(NODE1, DEFAULT_LAYOUT)
    assert "Name=host0" in text
    assert "Address=10.10.10.11/24" in text
    assert "Gateway" not in text.replace("no gateway", "")
    assert "DHCP=no" in text


def test_hosts_file_names_every_node() -> None:
    text = hosts_file(DEFAULT_LAYOUT)
    assert "10.10.10.10\tmeta\n" in text
    assert "10.10.10.13\tnode-3\n" in text


def test_apt_sources_signed_or_trusted() -> None:
    assert apt_sources(DEFAULT_LAYOUT, "apt/trixie/", signed=True).endswith(
        "Types: deb\nURIs: http://10.10.10.1:8642/apt/trixie/\nSuites: ./\n"
        "Signed-By: /etc/apt/keyrings/pigsalt-archive-keyring.gpg\n"
    )
    assert apt_sources(DEFAULT_LAYOUT, "apt/bookworm/", signed=False).endswith(
        "URIs: http://10.10.10.1:8642/apt/bookworm/\nSuites: ./\nTrusted: yes\n"
    )
