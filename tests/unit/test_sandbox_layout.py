"""The sandbox layout: defaults, validation (every error at once), round trip."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.sandbox.layout import DEFAULT_LAYOUT, Layout, SandboxNode, SandboxPaths


def test_default_layout_is_pigstys_sandbox() -> None:
    assert [(n.name, str(n.ip)) for n in DEFAULT_LAYOUT.nodes] == [
        ("meta", "10.10.10.10"),
        ("node-1", "10.10.10.11"),
        ("node-2", "10.10.10.12"),
        ("node-3", "10.10.10.13"),
    ]
    assert DEFAULT_LAYOUT.master_node == SandboxNode("meta", IPv4Address("10.10.10.10"), "debian13")
    assert [r.name for r in DEFAULT_LAYOUT.releases] == ["debian13"]
    assert str(DEFAULT_LAYOUT.subnet) == "10.10.10.0/24"
    assert str(DEFAULT_LAYOUT.host_ip) == "10.10.10.1"
    assert DEFAULT_LAYOUT.bridge == "pigsalt-br0"
    assert DEFAULT_LAYOUT.repo_url == "http://10.10.10.1:8642"


def test_veth_name_is_what_nspawn_creates() -> None:
    assert SandboxNode.of("node-1", "10.10.10.11").veth == "vb-node-1"


def test_from_pairs_defaults_master_to_first_node() -> None:
    layout = Layout.from_pairs([("pg1", "10.10.10.21"), ("pg2", "10.10.10.22")])
    assert layout.master == "pg1"
    assert layout.names == ("pg1", "pg2")


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(PigsaltError) as err:
        Layout(
            nodes=(
                SandboxNode.of("meta", "10.10.10.10"),
                SandboxNode.of("meta", "10.10.10.10"),
                SandboxNode.of("Bad_Name", "10.10.11.5"),
                SandboxNode.of("far-too-long-name", "10.10.10.1"),
                SandboxNode.of("old", "10.10.10.20", "debian11"),
            ),
            master="boss",
        )
    assert err.value.message == (
        "invalid sandbox layout: nodes.meta: duplicate name; "
        "nodes.meta.ip 10.10.10.10: already used; "
        "nodes.Bad_Name: name must be 1-12 characters of a-z, 0-9 and '-', starting with a letter; "
        "nodes.Bad_Name.ip 10.10.11.5: not a host address of 10.10.10.0/24; "
        "nodes.far-too-long-name: name must be 1-12 characters of a-z, 0-9 and '-', starting with a letter; "
        "nodes.far-too-long-name.ip 10.10.10.1: already used; "
        "nodes.old.os 'debian11': not one of debian12, debian13; "
        "master 'boss': not one of the nodes"
    )


def test_unknown_node_names_the_known_ones() -> None:
    with pytest.raises(PigsaltError, match=r"no sandbox node named 'node-9' \(nodes: meta, node-1, node-2, node-3\)"):
        DEFAULT_LAYOUT.node("node-9")


def test_round_trip_through_dict() -> None:
    assert Layout.from_dict(DEFAULT_LAYOUT.to_dict()) == DEFAULT_LAYOUT


def test_paths_are_all_under_the_root(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path)
    assert paths.images == tmp_path / "images"
    assert paths.node_root("meta") == tmp_path / "nodes" / "meta" / "root"
    assert paths.state_file == tmp_path / "state.json"
    assert SandboxPaths().root == Path("/var/lib/pigsalt/sandbox")
