"""State module ``pigsalt_vip``: the interface the VIP keeper will use exists on this node.

A check that changes nothing: ``interface`` succeeds with the interface the keeper will put
the VIP on (the inventory's, or the one carrying the member's address) and fails, naming the
node and the interfaces it has, when there is none. It runs before the keeper's unit is
written, so a wrong ``vip_interface`` stops the VIP state instead of a keeper that loops on
'Device "eth0" does not exist'.

.. code-block:: yaml

    vip-interface-checked:
      pigsalt_vip.interface:
        - name: 10.10.10.3/24
        - member_ip: 10.10.10.11
        - wanted: null
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]

__virtualname__ = "pigsalt_vip"


def __virtual__() -> str | tuple[bool, str]:
    if "pigsalt.vip_interface" not in __salt__:
        return False, "the pigsalt execution module is not synced (saltutil.sync_all)"
    return __virtualname__


def interface(name: str, member_ip: str, wanted: str | None = None) -> dict[str, Any]:
    """The VIP ``name`` has an interface on this node: ``wanted``, else the one carrying ``member_ip``.

    Reads only; the same in test mode.
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        found = __salt__["pigsalt.vip_interface"](member_ip, wanted)
    except CommandExecutionError as err:
        ret.update(result=False, comment=str(err))
        return ret
    ret["comment"] = f"VIP {name} goes on {found}"
    return ret
