"""Execution module ``haproxy``: this node's HAProxy, through its runtime API (admin socket).

Lists the servers of the service backends and takes one in or out of rotation; holds the health
checks while a cluster's Patroni REST APIs change from clear to TLS (``pigsty.cluster``). The socket
comes from the pillar (``pg.haproxy.admin_socket``, default ``/run/haproxy/admin.sock``); the
socket protocol lives in ``pigsalt.agent.haproxy``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Imported as a module, not functions: Salt would publish an imported function as ours.
    from pigsalt.agent import AgentError, haproxy_state
    from pigsalt.agent import haproxy as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__pillar__: dict[str, Any]
__salt__: dict[str, Any]

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


def _running(path: str) -> list[Any] | None:
    """Every server the running HAProxy knows; None when HAProxy does not run."""
    try:
        return agent.servers(None, path)
    except AgentError:
        if not __salt__["service.status"]("haproxy"):
            return None
        raise


def _checks(config: str | None) -> list[Any] | None:
    """The health checks of ``config`` (HAProxy's file by default); None without the file."""
    path = Path(config or haproxy_state.DEFAULT_CONFIG)
    try:
        return haproxy_state.parse_checks(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CommandExecutionError(f"{path}: {getattr(err, 'strerror', None) or err}") from None


def hold_clear_checks(config: str | None = None) -> dict[str, Any]:
    """While this node's running HAProxy still checks Patroni in clear, stop the health checks of
    every server that is UP, so that it stays UP: ``{"held": ["backend/server", …]}``.

    ``pigsty.cluster`` runs this on every member of a cluster deployed before pigsalt's TLS, right
    before the members' Patroni switch their REST API to HTTPS: otherwise each HAProxy marks a
    member DOWN as soon as that member's Patroni answers only over TLS, until HAProxy itself is
    reloaded with TLS checks, which may come seconds later on another node (5433 without its
    primary meanwhile). Servers that are DOWN keep their checks (stopped, HAProxy would take them
    as UP: a replica behind 5433). The reload that follows starts new workers with their own
    checks; ``resume_checks`` then turns the held ones back on wherever no reload happened.
    Nothing is held when every check already uses TLS, or HAProxy does not run.

    CLI Example:

    .. code-block:: bash

        salt -C 'I@pigsty:pg:cluster:pg-test' haproxy.hold_clear_checks
    """
    path = _socket()
    checks = _checks(config)
    clear = {(c.backend, c.server) for c in checks or () if not c.tls}
    if not clear:
        return {"held": [], "comment": "no health check in clear"}
    try:
        running = _running(path)
        if running is None:
            return {"held": [], "comment": "HAProxy does not run"}
        up = [s for s in running if (s.backend, s.server) in clear and s.status.startswith("UP")]
        for server in up:
            agent.set_health(server.backend, server.server, False, path)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"held": [f"{s.backend}/{s.server}" for s in up], "comment": "health checks in clear held"}


def resume_checks(config: str | None = None) -> dict[str, Any]:
    """Turn the health checks of every checked server of this node's running HAProxy back on
    (a no-op for those that run): ``{"resumed": ["backend/server", …]}``. Undoes
    ``hold_clear_checks`` when no reload replaced the held worker; ``pigsty.cluster`` runs it
    after the TLS conversion step, and when that step fails.

    CLI Example:

    .. code-block:: bash

        salt -C 'I@pigsty:pg:cluster:pg-test' haproxy.resume_checks
    """
    path = _socket()
    checked = {(c.backend, c.server) for c in _checks(config) or ()}
    try:
        running = _running(path)
        if running is None:
            return {"resumed": [], "comment": "HAProxy does not run"}
        resumed = sorted(checked & {(s.backend, s.server) for s in running})
        for backend, server in resumed:
            agent.set_health(backend, server, True, path)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"resumed": [f"{b}/{s}" for b, s in resumed], "comment": "health checks on"}
