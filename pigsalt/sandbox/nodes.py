"""Nodes: an overlay root per node, booted by systemd-nspawn with systemd as PID 1.

The host has no systemd, so nothing registers the containers: each nspawn is put
in its own cgroup before it starts, and commands enter a node with ``nsenter``
(``machinectl`` cannot reach it).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.master import MinionSettings, render_minion_config
from pigsalt.sandbox.image import Image, PackageSource
from pigsalt.sandbox.layout import Layout, SandboxNode, SandboxPaths
from pigsalt.sandbox.system import (
    ProcStat,
    children,
    ns_pid,
    proc_stat,
    run,
    spawn_in_cgroup,
)

KEYRING_IN_NODE = "/etc/apt/keyrings/pigsalt-archive-keyring.gpg"
# The sandbox accepts keys seconds after boot; minions ask again every second.
MINION_ACCEPTANCE_WAIT = 1
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Bind:
    """A host directory seen inside a node."""

    source: Path
    target: str
    read_only: bool = True

    @property
    def option(self) -> str:
        flag = "--bind-ro" if self.read_only else "--bind"
        return f"{flag}={self.source}:{self.target}"


def overlay_options(image: Image, upper: Path, work: Path) -> str:
    return f"lowerdir={image.lowerdir},upperdir={upper},workdir={work}"


def mount_overlay_argv(node: SandboxNode, image: Image, paths: SandboxPaths) -> list[str]:
    node_dir = paths.node_dir(node.name)
    return [
        "mount",
        "-t",
        "overlay",
        f"pigsalt-{node.name}",
        "-o",
        overlay_options(image, node_dir / "upper", node_dir / "work"),
        str(paths.node_root(node.name)),
    ]


def nspawn_boot_argv(node: SandboxNode, layout: Layout, root: Path, binds: Sequence[Bind] = ()) -> list[str]:
    """Boot ``root`` as ``node``; --register=no and --keep-unit because the host has no systemd."""
    return [
        "systemd-nspawn",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--directory",
        str(root),
        f"--machine={node.name}",
        f"--hostname={node.name}",
        f"--network-bridge={layout.bridge}",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
        *(b.option for b in binds),
    ]


def nsenter_argv(leader: int, command: Sequence[str]) -> list[str]:
    """Run ``command`` inside a node: all its namespaces, its root and its working directory."""
    return ["nsenter", "--target", str(leader), "--all", "--root", "--wd", "--", *command]


def node_env(term: str | None = None) -> dict[str, str]:
    """A clean environment for commands inside a node (nothing of the host's leaks in)."""
    env = {"PATH": NODE_PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root"}
    if term:
        env["TERM"] = term
    return env


# --- files a node gets before its first boot -------------------------------------


def networkd_config(node: SandboxNode, layout: Layout) -> str:
    """host0 gets the node's address and nothing else: no DHCP, no default route."""
    return (
        "# pigsalt sandbox: the node's only interface; no gateway on purpose.\n"
        "[Match]\nName=host0\n\n"
        "[Network]\n"
        f"Address={node.ip}/{layout.subnet.prefixlen}\n"
        "DHCP=no\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
        # Keep the address while the node is cut off, so that healing is instant.
        "ConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\n"
    )


def hosts_file(layout: Layout) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{n.ip}\t{n.name}" for n in layout.nodes]
    return "\n".join(lines) + "\n"


def apt_sources(layout: Layout, suite_path: str, signed: bool) -> str:
    """deb822 source for the node's release in the offline repository: a flat repository at
    ``suite_path`` below the repository's URL (``apt/<codename>/``)."""
    option = f"Signed-By: {KEYRING_IN_NODE}" if signed else "Trusted: yes"
    return (
        "# pigsalt sandbox: the offline repository served by the host; nothing else.\n"
        f"Types: deb\nURIs: {layout.repo_url}/{suite_path}\nSuites: ./\n{option}\n"
    )


def prepare_root(node: SandboxNode, layout: Layout, root: Path, packages: PackageSource) -> None:
    """Identity, network, package sources and minion config, written before first boot."""
    etc = root / "etc"
    (etc / "hostname").write_text(node.name + "\n")
    (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    (etc / "hosts").write_text(hosts_file(layout))
    network = etc / "systemd" / "network"
    network.mkdir(parents=True, exist_ok=True)
    # Same name as systemd's own file for host0, so it replaces it.
    (network / "80-container-host0.network").write_text(networkd_config(node, layout))
    sources = etc / "apt" / "sources.list.d"
    sources.mkdir(parents=True, exist_ok=True)
    suite = packages.suite_path(node.release.codename)
    (sources / "pigsalt.sources").write_text(apt_sources(layout, suite, packages.keyring is not None))
    if packages.keyring is not None:
        keyrings = etc / "apt" / "keyrings"
        keyrings.mkdir(parents=True, exist_ok=True)
        (keyrings / Path(KEYRING_IN_NODE).name).write_bytes(packages.keyring.read_bytes())
    minion = MinionSettings(
        master=str(layout.master_node.ip), minion_id=node.name, acceptance_wait_time=MINION_ACCEPTANCE_WAIT
    )
    config = root / minion.config_file.relative_to("/")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render_minion_config(minion))


# --- running nodes ------------------------------------------------------------------


def start_node(node: SandboxNode, layout: Layout, paths: SandboxPaths, binds: Sequence[Bind] = ()) -> ProcStat:
    """Start nspawn for ``node`` in the node's own cgroup; return the nspawn process."""
    log = paths.node_dir(node.name) / "console.log"
    stat = spawn_in_cgroup(node.name, nspawn_boot_argv(node, layout, paths.node_root(node.name), binds), log)
    if stat is None:
        raise PigsaltError(f"node {node.name}: systemd-nspawn exited at once (see {log})")
    return stat


def find_leader(nspawn_pid: int) -> int | None:
    """The node's PID 1 as the host sees it: nspawn's child that is PID 1 in its namespace."""
    for child in children(nspawn_pid):
        if ns_pid(child) == 1:
            return child
    return None


def wait_leader(node: SandboxNode, nspawn: ProcStat, log: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = find_leader(nspawn.pid)
        if leader is not None:
            return leader
        stat = proc_stat(nspawn.pid)
        if stat is None or not stat.alive or stat.starttime != nspawn.starttime:
            raise PigsaltError(f"node {node.name}: systemd-nspawn stopped while booting ({_tail(log)})")
        time.sleep(0.05)
    raise PigsaltError(f"node {node.name}: no PID 1 after {timeout:.0f} s ({_tail(log)})")


def _tail(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no console log"
    return lines[-1].strip() if lines else f"empty {log}"


def node_run(
    leader: int,
    command: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return run(nsenter_argv(leader, command), check=check, timeout=timeout, env=env or node_env())


def wait_booted(node: SandboxNode, leader: int, timeout: float = 60) -> str:
    """Wait until systemd in the node has finished starting up; return its state."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        result = node_run(leader, ["systemctl", "is-system-running"], check=False, timeout=10)
        state = result.stdout.strip() or "unknown"
        if state in ("running", "degraded"):
            return state
        time.sleep(0.1)
    raise PigsaltError(f"node {node.name}: systemd still {state!r} after {timeout:.0f} s")


def interactive(leader: int, command: Sequence[str]) -> int:
    """Run ``command`` in a node with the caller's terminal; return its exit code."""
    env = node_env(os.environ.get("TERM"))
    return subprocess.call(nsenter_argv(leader, command), env=env)
