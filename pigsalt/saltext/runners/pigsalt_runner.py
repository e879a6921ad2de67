"""Runner ``pigsalt``: what the orchestrations need to know about the inventory, on the master.

Found through pigsalt's ``salt.loader`` entry point, like the ext_pillar, and reads the same
inventory (the ``pigsalt`` entry of the master's ``ext_pillar``). No secrets.

CLI Example:

.. code-block:: bash

    salt-run pigsalt.clusters
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__virtualname__ = "pigsalt"


def __virtual__() -> str | tuple[bool, str]:
    try:
        import pigsalt.pillar.build  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the master's environment
        return False, f"the pigsalt package cannot be imported: {err}"
    return __virtualname__


def _inventory() -> Path:
    for entry in __opts__.get("ext_pillar") or []:  # type: ignore[name-defined]  # noqa: F821
        if isinstance(entry, dict) and "pigsalt" in entry:
            return Path(entry["pigsalt"]["inventory"])
    raise RuntimeError("the master has no `pigsalt` ext_pillar (run `pigsalt master setup`)")


def clusters() -> dict[str, Any]:
    """Every cluster of the inventory with its members' minion ids: the inventory's primary
    (it bootstraps a new cluster) and the others.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.clusters
    """
    from pigsalt.errors import PigsaltError
    from pigsalt.pillar.build import cluster_members

    try:
        return cluster_members(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
