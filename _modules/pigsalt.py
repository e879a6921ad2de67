"""Execution module ``pigsalt``: what a node is in the inventory, read from its pillar.

Runs on every minion; it needs nothing but Salt (no pigsalt package on the node).
"""

from __future__ import annotations

from typing import Any

__virtualname__ = "pigsalt"


def __virtual__() -> str:
    return __virtualname__


def identity() -> dict[str, Any]:
    """This node's identity: name, IP, whether it is a meta node, and its instance if any.

    CLI Example:

    .. code-block:: bash

        salt '*' pigsalt.identity
    """
    pigsty = __pillar__.get("pigsty")  # type: ignore[name-defined]  # noqa: F821
    if not pigsty:
        from salt.exceptions import CommandExecutionError

        raise CommandExecutionError("this minion has no pigsty pillar: it is not in the inventory")
    node = pigsty["node"]
    pg = pigsty.get("pg")
    return {
        "name": node["name"],
        "ip": node["ip"],
        "meta": node["meta"],
        "cluster": pg["cluster"] if pg else None,
        "instance": pg["instance"] if pg else None,
        "seq": pg["seq"] if pg else None,
        "inventory_role": pg["role"] if pg else None,
    }
