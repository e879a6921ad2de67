"""Which nodes the sandbox runs, on which addresses, and where it keeps its files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from pigsalt.debian import DEFAULT_RELEASE, RELEASES, Release, release
from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import Inventory

DEFAULT_ROOT = Path("/var/lib/pigsalt/sandbox")
DEFAULT_BRIDGE = "pigsalt-br0"
DEFAULT_SUBNET = IPv4Network("10.10.10.0/24")
DEFAULT_HOST_IP = IPv4Address("10.10.10.1")
# Port of the HTTP server that serves the offline repository on the bridge address.
DEFAULT_REPO_PORT = 8642
# Metric of the `unreachable` guard route: far above any real route, so it only
# answers while the bridge (and its connected route) is gone.
GUARD_METRIC = 4242
# The release of a node in a state file written before nodes had one: every node was bookworm.
LEGACY_RELEASE = "debian12"

# nspawn names the host side of a node's veth "vb-<name>"; an interface name has at
# most 15 characters, so a node name has at most 12.
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")


@dataclass(frozen=True)
class SandboxNode:
    """One container: its machine name (also its hostname and minion id), address and Debian
    release (the inventory's ``node_os``: ``debian12`` or ``debian13``)."""

    name: str
    ip: IPv4Address
    os: str = DEFAULT_RELEASE

    @classmethod
    def of(cls, name: str, ip: str | IPv4Address, os: str = DEFAULT_RELEASE) -> SandboxNode:
        return cls(name, IPv4Address(str(ip)), os)

    @property
    def release(self) -> Release:
        return release(self.os)

    @property
    def veth(self) -> str:
        """Host side of the node's veth pair, as systemd-nspawn names it."""
        return f"vb-{self.name}"


@dataclass(frozen=True)
class Layout:
    """The nodes of one sandbox and the network they share."""

    nodes: tuple[SandboxNode, ...]
    master: str = "meta"
    subnet: IPv4Network = DEFAULT_SUBNET
    host_ip: IPv4Address = DEFAULT_HOST_IP
    bridge: str = DEFAULT_BRIDGE
    repo_port: int = DEFAULT_REPO_PORT

    def __post_init__(self) -> None:
        errors = self.errors()
        if errors:
            raise PigsaltError("invalid sandbox layout: " + "; ".join(errors))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], master: str | None = None) -> Layout:
        """A layout from ``(name, ip)`` pairs; the master is ``master`` or the first node."""
        nodes = tuple(SandboxNode.of(name, ip) for name, ip in pairs)
        if not nodes:
            raise PigsaltError("invalid sandbox layout: no nodes")
        return cls(nodes=nodes, master=master or nodes[0].name)

    def errors(self) -> list[str]:
        """Every problem of the layout at once (empty when it is valid)."""
        errors: list[str] = []
        if not self.nodes:
            errors.append("no nodes")
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,14}", self.bridge):
            errors.append(f"bridge {self.bridge!r}: not a valid interface name")
        if self.host_ip not in self.subnet or self.host_ip in (
            self.subnet.network_address,
            self.subnet.broadcast_address,
        ):
            errors.append(f"host_ip {self.host_ip}: not a host address of {self.subnet}")
        seen_names: set[str] = set()
        seen_ips: set[IPv4Address] = {self.host_ip}
        for node in self.nodes:
            where = f"nodes.{node.name}"
            if not _NAME_RE.match(node.name):
                errors.append(f"{where}: name must be 1-12 characters of a-z, 0-9 and '-', starting with a letter")
            if node.name in seen_names:
                errors.append(f"{where}: duplicate name")
            seen_names.add(node.name)
            if node.ip not in self.subnet or node.ip in (
                self.subnet.network_address,
                self.subnet.broadcast_address,
            ):
                errors.append(f"{where}.ip {node.ip}: not a host address of {self.subnet}")
            elif node.ip in seen_ips:
                errors.append(f"{where}.ip {node.ip}: already used")
            seen_ips.add(node.ip)
            if node.os not in RELEASES:
                errors.append(f"{where}.os {node.os!r}: not one of {', '.join(RELEASES)}")
        if self.nodes and self.master not in seen_names:
            errors.append(f"master {self.master!r}: not one of the nodes")
        if not 1 <= self.repo_port <= 65535:
            errors.append(f"repo_port {self.repo_port}: not a port")
        return errors

    def node(self, name: str) -> SandboxNode:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise PigsaltError(f"no sandbox node named {name!r} (nodes: {known})")

    @property
    def master_node(self) -> SandboxNode:
        return self.node(self.master)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    @property
    def releases(self) -> tuple[Release, ...]:
        """The Debian releases the nodes run, each once, oldest first."""
        return tuple(sorted({n.release for n in self.nodes}, key=lambda r: r.number))

    @property
    def repo_url(self) -> str:
        return f"http://{self.host_ip}:{self.repo_port}"

    def to_dict(self) -> dict[str, object]:
        return {
            "nodes": [{"name": n.name, "ip": str(n.ip), "os": n.os} for n in self.nodes],
            "master": self.master,
            "subnet": str(self.subnet),
            "host_ip": str(self.host_ip),
            "bridge": self.bridge,
            "repo_port": self.repo_port,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Layout:
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise PigsaltError("invalid sandbox layout: nodes must be a list")
        return cls(
            nodes=tuple(SandboxNode.of(str(n["name"]), str(n["ip"]), str(n.get("os", LEGACY_RELEASE))) for n in nodes),
            master=str(data.get("master", "meta")),
            subnet=IPv4Network(str(data.get("subnet", DEFAULT_SUBNET))),
            host_ip=IPv4Address(str(data.get("host_ip", DEFAULT_HOST_IP))),
            bridge=str(data.get("bridge", DEFAULT_BRIDGE)),
            repo_port=int(str(data.get("repo_port", DEFAULT_REPO_PORT))),
        )


DEFAULT_LAYOUT = Layout(
    nodes=(
        SandboxNode.of("meta", "10.10.10.10"),
        SandboxNode.of("node-1", "10.10.10.11"),
        SandboxNode.of("node-2", "10.10.10.12"),
        SandboxNode.of("node-3", "10.10.10.13"),
    ),
    master="meta",
)


@dataclass(frozen=True)
class SandboxPaths:
    """Where the sandbox keeps everything on the host (all under one root)."""

    root: Path = DEFAULT_ROOT
    images: Path = field(init=False)
    nodes: Path = field(init=False)
    run: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", self.root / "images")
        object.__setattr__(self, "nodes", self.root / "nodes")
        object.__setattr__(self, "run", self.root / "run")

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def wheels(self) -> Path:
        """Wheels built here while ``pigsalt.repo`` is not available."""
        return self.root / "wheels"

    @property
    def fallback_repo(self) -> Path:
        return self.root / "repo"

    @property
    def pigsalt_wheel_dir(self) -> Path:
        """The pigsalt wheel built from the working tree at each ``up``."""
        return self.run / "pigsalt-wheel"

    def node_dir(self, name: str) -> Path:
        return self.nodes / name

    def node_root(self, name: str) -> Path:
        return self.nodes / name / "root"


def layout_from_inventory(inventory: Inventory) -> Layout:
    """One sandbox node per inventory node, named as its minion will be and running the Debian
    release it asks for; the first meta node runs the master. The addresses must lie in the
    sandbox subnet."""
    nodes = tuple(SandboxNode.of(node.name, node.ip, node.os) for node in inventory.nodes)
    outside = [f"{n.name} {n.ip}" for n in nodes if n.ip not in DEFAULT_SUBNET]
    if outside:
        raise PigsaltError(f"the sandbox runs nodes in {DEFAULT_SUBNET} only; outside it: {', '.join(outside)}")
    return Layout(nodes=nodes, master=inventory.meta_nodes[0].name)
