"""Execution module ``pgupgrade``: a major-version upgrade by logical replication, run on the
primary of the successor cluster (the one whose inventory says ``pg_upgrade_from``).

A thin layer over ``pigsalt.agent.upgrade``: the databases, the admin user and its password,
the binaries and the source's members come from this node's ``pigsty`` pillar; the source's
primary is the member whose Patroni answers 200 on ``/primary``. ``pigsalt upgrade`` calls these
in order (check, start, progress, cutover, finish; abort before the cutover). No return value
or message holds a password.
"""

from __future__ import annotations

import logging
import pwd
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    from pigsalt.agent import AgentError
    from pigsalt.agent import upgrade as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

__pillar__: dict[str, Any]

__virtualname__ = "pgupgrade"

log = logging.getLogger(__name__)


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _pg() -> dict[str, Any]:
    pg = (__pillar__.get("pigsty") or {}).get("pg")
    if not pg:
        raise CommandExecutionError("this node holds no Postgres instance")
    if not pg.get("upgrade_from"):
        raise CommandExecutionError(f"{pg.get('cluster')} is not a successor: its inventory has no pg_upgrade_from")
    return dict(pg)


def _home(dbsu: str) -> str:
    return pwd.getpwnam(dbsu).pw_dir


def _source_primary(pg: dict[str, Any]) -> str:
    """The address of the source member whose Patroni answers 200 on ``/primary``."""
    port = pg["patroni"]["port"]
    # Patroni's REST API over TLS, its certificate checked against the local CA.
    context = ssl.create_default_context(cafile=__pillar__["pigsty"]["tls"]["ca_cert"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    for member in pg.get("upgrade_source_members") or []:
        try:
            with opener.open(f"https://{member['ip']}:{port}/primary", timeout=3) as answer:
                if answer.status == 200:
                    return str(member["ip"])
        except (urllib.error.URLError, OSError):
            continue
    names = ", ".join(m["name"] for m in pg.get("upgrade_source_members") or []) or "none"
    raise CommandExecutionError(f"no primary among the members of {pg['upgrade_from']} ({names})")


def _upgrade() -> agent.Upgrade:
    pg = _pg()
    admin = pg["upgrade_source_admin"]  # the source cluster's own admin user and password
    source = agent.Endpoint(_source_primary(pg), int(admin["port"]), admin["name"])
    passfile = agent.write_passfile(_home(pg["dbsu"]), pg["dbsu"], source, admin["password"])
    return agent.Upgrade(
        source=source,
        databases=tuple(d["args"]["name"] for d in pg.get("databases") or []),
        run=agent.runuser(pg["dbsu"], {"PGPASSFILE": passfile, "PGCONNECT_TIMEOUT": "10"}),
        bin_dir=pg["bin_dir"],
        passfile=passfile,
        port=int(pg["port"]),
    )


def _call(what: str, step: Any) -> Any:
    try:
        return step()
    except AgentError as err:
        raise CommandExecutionError(f"{what}: {err}") from err


def check() -> dict[str, Any]:
    """What blocks the upgrade from the source cluster into this one (empty ``blockers``: nothing).

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.check
    """
    up = _upgrade()
    return {"source": up.source.host, "databases": list(up.databases), "blockers": _call("check", up.check)}


def start() -> dict[str, Any]:
    """Copy each database's schema from the source and subscribe to it (idempotent).

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.start
    """
    up = _upgrade()
    return {"source": up.source.host, "databases": _call("start", up.start)}


def progress() -> dict[str, Any]:
    """Per database: subscribed, tables, tables synchronized, bytes the successor is behind.

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.progress
    """
    up = _upgrade()
    return {"source": up.source.host, "databases": _call("progress", up.progress)}


def cutover(timeout: float = 60) -> dict[str, Any]:
    """Freeze the source (read-only, sessions ended), wait until every subscription confirmed its
    last WAL position, copy the sequences. On a failure the source takes writes again.

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.cutover
    """
    up = _upgrade()
    started = time.monotonic()
    ended = _call("freeze the source", up.freeze_source)
    frozen = time.monotonic()
    try:
        catch_up = up.wait_caught_up(float(timeout))
        sequences = up.copy_sequences()
    except AgentError as err:
        try:
            up.thaw_source()
        except AgentError as thaw:
            raise CommandExecutionError(f"cutover: {err}; and the source is still read-only: {thaw}") from err
        raise CommandExecutionError(f"cutover: {err}; the source takes writes again") from err
    return {
        "source": up.source.host,
        "sessions_ended": ended,
        "freeze_seconds": round(frozen - started, 3),
        "catch_up_seconds": round(catch_up, 3),
        "sequences": sequences,
        "seconds": round(time.monotonic() - started, 3),
    }


def finish() -> dict[str, Any]:
    """After the cutover: drop the subscriptions, their slots and the publications; the passfile.

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.finish
    """
    up = _upgrade()
    _call("finish", up.drop_replication)
    Path(up.passfile).unlink(missing_ok=True)
    return {"source": up.source.host, "finished": True}


def abort() -> dict[str, Any]:
    """The way back before the cutover: drop the subscriptions, slots and publications, and let
    the source take writes again (if a failed cutover left it read-only). The successor keeps
    the copied schema and rows; deploy it afresh or drop its databases before a new start.

    CLI Example:

    .. code-block:: bash

        salt node-6 pgupgrade.abort
    """
    up = _upgrade()
    _call("abort", up.drop_replication)
    _call("abort", up.thaw_source)
    Path(up.passfile).unlink(missing_ok=True)
    return {"source": up.source.host, "aborted": True}
