"""Grains of pigsalt: facts about a node that more than one formula branches on.

``pigsalt_container``: whether the node is a container, from Salt's ``virtual`` grain
(``systemd-nspawn``; ``container`` for LXC, Docker and Podman; ``openvzve``). A container
shares the host's kernel and clock: its kernel parameters are read-only (node.tune skips
sysctl) and it may not set the time (chrony.config runs chronyd with ``-x``).

Synced to minions with the other extensions (``saltutil.sync_all``, which the orchestrations
run first).

CLI Example:

.. code-block:: bash

    salt '*' grains.get pigsalt_container
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__opts__: dict[str, Any]

CONTAINER_VIRTUAL = frozenset({"container", "systemd-nspawn", "openvzve"})


def container(grains: Mapping[str, Any]) -> dict[str, bool]:
    """``pigsalt_container`` from the core grains Salt passes in (``virtual`` among them).

    A ``virtual`` set in the minion's configuration (static grains, which Salt applies after
    every grain module) wins over the detected one here too.
    """
    static = __opts__.get("grains") or {}
    return {"pigsalt_container": static.get("virtual", grains.get("virtual")) in CONTAINER_VIRTUAL}
