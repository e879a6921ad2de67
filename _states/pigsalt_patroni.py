"""State module ``pigsalt_patroni``: facts about this member's place in its Patroni cluster.

``joined`` holds (and changes nothing) until Patroni's ``/cluster`` shows a running leader and
this member either is that leader or streams from it. It asks Patroni who leads, so it is
right after a failover too, when the inventory's ``pg_role`` no longer says who the primary is.

.. code-block:: yaml

    checks-patroni-joined:
      pigsalt_patroni.joined:
        - name: pg-test-2
        - timeout: 180
"""

from __future__ import annotations

import time
from typing import Any

from salt.exceptions import CommandExecutionError

__virtualname__ = "pigsalt_patroni"


def __virtual__() -> str | tuple[bool, str]:
    if "patroni.cluster" not in __salt__:  # type: ignore[name-defined]  # noqa: F821
        return False, "the patroni execution module is not available (saltutil.sync_all; pigsalt installed?)"
    return __virtualname__


def _look(name: str) -> tuple[bool, str]:
    """Whether ``name`` has joined, and what was seen."""
    try:
        cluster = __salt__["patroni.cluster"]()  # type: ignore[name-defined]  # noqa: F821
    except CommandExecutionError as err:
        return False, str(err)
    members = {m["name"]: m for m in cluster["members"]}
    leader = cluster["leader"]
    if leader is None or members.get(leader, {}).get("state") != "running":
        return False, f"no running leader (members: {_summary(members)})"
    if name == leader:
        return True, f"{name} leads ({_summary(members)})"
    member = members.get(name)
    if member is None:
        return False, f"{name} is not a member yet (members: {_summary(members)})"
    if member["state"] != "streaming":
        return False, f"{name} is {member['state']}, not streaming from {leader}"
    return True, f"{name} streams from {leader} (lag {member['lag']})"


def _summary(members: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{n} {m['role']}/{m['state']}" for n, m in sorted(members.items())) or "none"


def joined(name: str, timeout: float = 180, interval: float = 1) -> dict[str, Any]:
    """Hold until member ``name`` leads its cluster or streams from the running leader."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    testing = __opts__["test"]  # type: ignore[name-defined]  # noqa: F821
    start = time.monotonic()
    while True:
        ok, seen = _look(name)
        elapsed = round(time.monotonic() - start, 1)
        if ok:
            ret["comment"] = f"{seen}; after {elapsed} s"
            return ret
        if testing:
            ret["result"] = None
            ret["comment"] = f"not joined yet: {seen}"
            return ret
        if elapsed >= float(timeout):
            ret["result"] = False
            ret["comment"] = f"{name} has not joined its cluster after {timeout} s (last: {seen})"
            return ret
        time.sleep(float(interval))
