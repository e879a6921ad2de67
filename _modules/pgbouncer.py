"""Execution module ``pgbouncer``: this node's Pgbouncer admin console.

Each function runs one admin command with ``psql`` as the database superuser, over the Unix
socket (peer authentication: no password on the command line, in the environment or in a log),
and returns psql's CSV answer as a list of dicts. The command line and the parsing live in
``pigsalt.agent.psql`` and ``pigsalt.agent.pgbouncer``; only the admin commands pigsalt uses can
be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import salt.utils.path
from salt.exceptions import CommandExecutionError

try:
    # Imported as a module, not functions: Salt would publish an imported function as ours.
    from pigsalt.agent import AgentError, psql
    from pigsalt.agent import pgbouncer as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__pillar__: dict[str, Any]

__virtualname__ = "pgbouncer"

CONSOLE_TIMEOUT = 30


def __virtual__() -> str | tuple[bool, str]:
    # Loaded without psql too: a dry run before the first deploy names pgbouncer.reload in a
    # state (module.run) while the Postgres client is not installed yet; a call says why it fails.
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _pg() -> dict[str, Any]:
    pg = (__pillar__.get("pigsty") or {}).get("pg")
    if not pg:
        raise CommandExecutionError("this node holds no Postgres instance")
    return dict(pg)


def _console(command: str) -> list[dict[str, str]]:
    """Run one admin command; psql's CSV answer as rows (none for RELOAD, PAUSE, RESUME)."""
    pg = _pg()
    if not salt.utils.path.which("psql"):
        raise CommandExecutionError("psql is not on PATH (the Postgres client is not installed)")
    try:
        command = agent.check_command(command)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    run = psql.salt_runner(__salt__["cmd.run_all"], pg["dbsu"])
    console = psql.Psql(run, port=int(pg["pgbouncer"]["port"]), timeout=CONSOLE_TIMEOUT)
    try:
        stdout = console.console(command, user=pg["dbsu"])
    except psql.PsqlError as err:
        raise CommandExecutionError(f"pgbouncer {command}: {err.detail}") from err
    if not command.startswith("SHOW "):
        return []
    return agent.parse_csv(stdout)


def pools() -> list[dict[str, str]]:
    """``SHOW POOLS``: one row per (database, user) pool, with its client and server connection counts.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.pools
    """
    return _console("SHOW POOLS")


def users() -> list[dict[str, str]]:
    """``SHOW USERS``: the users Pgbouncer knows, with their pool mode.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.users
    """
    return _console("SHOW USERS")


def databases() -> list[dict[str, str]]:
    """``SHOW DATABASES``: the databases Pgbouncer serves, where each points, pool sizes, paused or not.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.databases
    """
    return _console("SHOW DATABASES")


def clients() -> list[dict[str, str]]:
    """``SHOW CLIENTS``: the client connections, with user, database, state and address.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.clients
    """
    return _console("SHOW CLIENTS")


def stats() -> list[dict[str, str]]:
    """``SHOW STATS``: per-database totals and averages (transactions, queries, bytes, wait time).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.stats
    """
    return _console("SHOW STATS")


def reload() -> dict[str, Any]:
    """Re-read the configuration, HBA and auth files (``systemctl reload``: SIGHUP, what the
    console's ``RELOAD`` does): ``{"reloaded": True}``.

    Not through the console: a new auth file may be the very thing that lets the dbsu into it
    (Pgbouncer 1.18 wants every user in its auth file, even for ``peer``). Raises "pgbouncer is
    not running" when it is not, so that a state can just write the files it reads at start.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.reload
    """
    if not __salt__["service.status"]("pgbouncer"):
        raise CommandExecutionError("pgbouncer is not running")
    if not __salt__["service.reload"]("pgbouncer"):
        raise CommandExecutionError("pgbouncer: systemctl reload failed")
    return {"reloaded": True}


def pause(database: str | None = None) -> dict[str, Any]:
    """``PAUSE [database]``: wait for the server connections to finish their transactions, then hold
    new queries (all databases when none is given): ``{"paused": True, "database": database}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.pause
        salt pg-test-1 pgbouncer.pause database=test
    """
    _console("PAUSE" if database is None else f"PAUSE {database}")
    return {"paused": True, "database": database}


def resume(database: str | None = None) -> dict[str, Any]:
    """``RESUME [database]``: let the held queries run again: ``{"resumed": True, "database": database}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbouncer.resume
        salt pg-test-1 pgbouncer.resume database=test
    """
    _console("RESUME" if database is None else f"RESUME {database}")
    return {"resumed": True, "database": database}
