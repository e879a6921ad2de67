"""Execution module ``haproxy``: this node's HAProxy, through its runtime API (admin socket).

Lists the servers of the service backends and takes one in or out of rotation. The socket
comes from the pillar (``pg.haproxy.admin_socket``, default ``/run/haproxy/admin.sock``); the
socket protocol lives in ``pigsalt.agent.haproxy``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Imported as a module, not functions: Salt would publish an imported function as ours.
    from pigsalt.agent import AgentError
    from pigsalt.agent import haproxy as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__pillar__: dict[str, Any]

__virtualname__ = "haproxy"


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _socket() -> str:
    pg = (__pillar__.get("pigsty") or {}).get("pg")
    if not pg:
        raise CommandExecutionError("this node holds no Postgres instance")
    return str((pg.get("haproxy") or {}).get("admin_socket", agent.DEFAULT_SOCKET))


def servers(backend: str | None = None) -> list[dict[str, Any]]:
    """The servers HAProxy balances (of ``backend`` only, when given), each with backend, server,
    status (``UP``, ``DOWN``, ``DRAIN``, ``MAINT``…), weight, current_sessions and check_status.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 haproxy.servers
        salt pg-test-1 haproxy.servers backend=pg-test-primary
    """
    try:
        return [dataclasses.asdict(s) for s in agent.servers(backend, _socket())]
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def _set(backend: str, server: str, state: agent.State) -> dict[str, Any]:
    path = _socket()
    try:
        agent.set_state(backend, server, state, path)
        now = next(s for s in agent.servers(backend, path) if s.server == server)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    except StopIteration:
        raise CommandExecutionError(f"HAProxy {path}: no server {server} in backend {backend}") from None
    return {"backend": backend, "server": server, "state": state, "status": now.status}


def enable_server(backend: str, server: str) -> dict[str, Any]:
    """Put ``backend/server`` back in rotation (state ``ready``): ``{"backend", "server", "state",
    "status"}``, status as HAProxy shows it afterwards (``DOWN`` while its health check fails).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 haproxy.enable_server pg-test-replica pg-test-2
    """
    return _set(backend, server, "ready")


def drain_server(backend: str, server: str) -> dict[str, Any]:
    """Drain ``backend/server``: current sessions go on, no new ones come (state ``drain``).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 haproxy.drain_server pg-test-replica pg-test-2
    """
    return _set(backend, server, "drain")


def disable_server(backend: str, server: str) -> dict[str, Any]:
    """Take ``backend/server`` out of rotation for maintenance (state ``maint``).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 haproxy.disable_server pg-test-replica pg-test-2
    """
    return _set(backend, server, "maint")
