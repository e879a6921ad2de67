"""State module ``pigsalt_wait``: a step that holds until a fact is true, and changes nothing.

Each state wraps a wait of the ``pigsalt`` execution module: it succeeds (without changes) as
soon as the fact holds, and fails after ``timeout`` seconds with what it last saw. In test mode
it looks once and reports ``None`` when the fact does not hold yet, without waiting.

.. code-block:: yaml

    dns-service-answers:
      pigsalt_wait.dns:
        - name: pg-test-1
        - server: 10.10.10.10
        - expect: 10.10.10.11
        - timeout: 60
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_wait"


def __virtual__() -> str | tuple[bool, str]:
    if "pigsalt.wait_tcp" not in __salt__:
        return False, "the pigsalt execution module is not synced (saltutil.sync_all)"
    return __virtualname__


def _hold(label: str, function: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
    ret: dict[str, Any] = {"name": label, "changes": {}, "result": True, "comment": ""}
    wait = __salt__[f"pigsalt.{function}"]
    if __opts__["test"]:
        timeout = 0
    try:
        found = wait(timeout=timeout, **kwargs)
    except CommandExecutionError as err:
        testing = __opts__["test"]
        ret["result"] = None if testing else False
        ret["comment"] = f"not ready yet: {err}" if testing else str(err)
        return ret
    ret["comment"] = f"{found['what']}: ready after {found['elapsed']} s ({found['seen']})"
    return ret


def tcp(name: str, port: int, timeout: float = 60) -> dict[str, Any]:
    """Hold until host ``name`` accepts TCP connections on ``port``."""
    return _hold(name, "wait_tcp", timeout, host=name, port=port)


def http(name: str, status: int = 200, timeout: float = 60) -> dict[str, Any]:
    """Hold until a GET of URL ``name`` answers ``status``."""
    return _hold(name, "wait_http", timeout, url=name, status=status)


def dns(name: str, server: str, expect: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """Hold until DNS ``server`` answers ``name`` (with address ``expect`` when given)."""
    return _hold(name, "wait_dns", timeout, name=name, server=server, expect=expect)


def command(name: str, cmd: list[str], timeout: float = 60, leader_only: bool = False) -> dict[str, Any]:
    """Hold until the argument list ``cmd`` exits 0 (``name`` only labels the step).

    ``leader_only``: on the member that holds its Patroni cluster's leader lock only; elsewhere
    nothing is checked. Patroni not answering fails, or, in test mode (a dry run before Patroni
    runs), is reported as not checked yet."""
    if leader_only:
        try:
            leads = __salt__["patroni.is_leader"]()
        except CommandExecutionError as err:
            testing = __opts__["test"]
            comment = f"cannot ask Patroni who leads: {err}"
            return {"name": name, "changes": {}, "result": None if testing else False, "comment": comment}
        if not leads:
            return {"name": name, "changes": {}, "result": True, "comment": "checked on the Patroni leader only"}
    return _hold(name, "wait_cmd", timeout, cmd=cmd)
