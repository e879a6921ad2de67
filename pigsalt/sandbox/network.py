"""The sandbox network: a host bridge, a guard route, and the repository server.

The guard route (``unreachable <subnet> metric <high>``) goes in before anything
else and comes out last: whenever the bridge is missing or down, a packet for the
sandbox subnet is refused on the host instead of following the default route out.
"""

from __future__ import annotations

import json
from pathlib import Path

from pigsalt.sandbox.layout import GUARD_METRIC, Layout, SandboxNode
from pigsalt.sandbox.system import (
    ProcStat,
    run,
    spawn_in_cgroup,
)

# The HTTP server serves the offline repository; it runs with Debian's Python, the
# same interpreter the nodes have, and nothing from the project.
HTTP_PYTHON = "/usr/bin/python3"


def guard_route_argv(action: str, layout: Layout) -> list[str]:
    return ["ip", "route", action, "unreachable", str(layout.subnet), "metric", str(GUARD_METRIC)]


def has_guard_route(layout: Layout) -> bool:
    result = run(
        ["ip", "-json", "route", "show", "type", "unreachable", str(layout.subnet)],
        check=False,
    )
    if result.returncode != 0:
        return False
    routes = json.loads(result.stdout or "[]")
    return any(r.get("metric") == GUARD_METRIC for r in routes)


def add_guard_route(layout: Layout) -> None:
    if not has_guard_route(layout):
        run(guard_route_argv("add", layout))


def remove_guard_route(layout: Layout) -> None:
    while has_guard_route(layout):
        run(guard_route_argv("del", layout))


def route_get(address: str) -> str:
    """What the kernel would do with a packet for ``address`` (``ip route get``)."""
    result = run(["ip", "route", "get", address], check=False)
    return (result.stdout or result.stderr).strip()


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def link_is_up(name: str) -> bool:
    try:
        flags = int(Path("/sys/class/net", name, "flags").read_text(), 16)
    except (OSError, ValueError):
        return False
    return bool(flags & 0x1)  # IFF_UP


def bridge_argvs(layout: Layout) -> list[list[str]]:
    """Create the bridge, give it the host address, bring it up (in that order)."""
    return [
        ["ip", "link", "add", layout.bridge, "type", "bridge"],
        ["ip", "addr", "add", f"{layout.host_ip}/{layout.subnet.prefixlen}", "dev", layout.bridge],
        ["ip", "link", "set", layout.bridge, "up"],
    ]


def add_bridge(layout: Layout) -> None:
    if link_exists(layout.bridge):
        run(["ip", "link", "del", layout.bridge])
    for argv in bridge_argvs(layout):
        run(argv)


def remove_bridge(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", name])


def leftover_veths(layout: Layout) -> list[str]:
    """Host-side veths of the layout's nodes that are still there."""
    return [node.veth for node in layout.nodes if link_exists(node.veth)]


def cut_argv(node: SandboxNode) -> list[str]:
    return ["ip", "link", "set", node.veth, "down"]


def heal_argv(node: SandboxNode) -> list[str]:
    return ["ip", "link", "set", node.veth, "up"]


def http_server_argv(layout: Layout, directory: Path) -> list[str]:
    return [
        HTTP_PYTHON,
        "-m",
        "http.server",
        "--bind",
        str(layout.host_ip),
        "--directory",
        str(directory),
        str(layout.repo_port),
    ]


def start_http_server(layout: Layout, directory: Path, log: Path) -> ProcStat:
    """Serve ``directory`` on the bridge address; the server runs in the sandbox cgroup."""
    stat = spawn_in_cgroup("http", http_server_argv(layout, directory), log)
    if stat is None:
        raise RuntimeError("the repository server exited at once")
    return stat
