"""The sandbox: real Debian nodes with systemd on one machine, for end-to-end tests.

Nodes are systemd-nspawn containers on their own bridge, each on an overlay of a
cached image of its Debian release (12 or 13, + Salt in ``/opt/pigsalt/salt``); the
master node runs the Salt master configured by ``pigsalt master setup``. See
docs/sandbox.md.
"""

from __future__ import annotations

from pigsalt.sandbox.layout import DEFAULT_LAYOUT, Layout, SandboxNode, SandboxPaths
from pigsalt.sandbox.lifecycle import (
    NodeStatus,
    Status,
    UpResult,
    cut,
    down,
    heal,
    leader,
    leftovers,
    master_run,
    status,
    up,
)
from pigsalt.sandbox.nodes import interactive, node_run

__all__ = [
    "DEFAULT_LAYOUT",
    "Layout",
    "NodeStatus",
    "SandboxNode",
    "SandboxPaths",
    "Status",
    "UpResult",
    "cut",
    "down",
    "heal",
    "interactive",
    "leader",
    "leftovers",
    "master_run",
    "node_run",
    "status",
    "up",
]
