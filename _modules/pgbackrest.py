"""Execution module ``pgbackrest``: this member's backups (``pigsalt.agent.pgbackrest``).

Reads the stanza and configuration from the ``pigsty:pg:backup`` pillar. ``backup`` acts on the
Patroni leader only (pgBackRest backs up from the primary); ``info`` answers on any member.
No return value or message holds the repository's passphrase.

CLI Example:

.. code-block:: bash

    salt pg-test-1 pgbackrest.info
    salt -C 'I@pigsty:pg:cluster:pg-test' pgbackrest.backup type=diff
"""

from __future__ import annotations

import time
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Imported as modules, not functions: Salt would publish an imported function as ours.
    from pigsalt.agent import AgentError, psql
    from pigsalt.agent import pgbackrest as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__pillar__: dict[str, Any]
__salt__: dict[str, Any]

__virtualname__ = "pgbackrest"


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _stanza() -> agent.Stanza:
    pg = (__pillar__.get("pigsty") or {}).get("pg") or {}
    backup = pg.get("backup") or {}
    if not backup.get("enabled"):
        raise CommandExecutionError(f"this node is not backed up: {backup.get('reason', 'not a database node')}")
    return agent.Stanza(backup["config"], backup["stanza"], pg.get("dbsu", "postgres"))


def info() -> dict[str, Any]:
    """The stanza's entry of ``pgbackrest info --output=json``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbackrest.info
    """
    try:
        return agent.info(_stanza())
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def backup(type: str = "full") -> dict[str, Any]:
    """Take a backup of ``type`` (full, diff, incr) on the Patroni leader; ``{"leader": False}``
    on any other member. On the leader: the new backup's info entry and ``seconds``.

    CLI Example:

    .. code-block:: bash

        salt -C 'I@pigsty:pg:cluster:pg-test' pgbackrest.backup type=full
    """
    stanza = _stanza()
    if not __salt__["patroni.is_leader"]():
        return {"leader": False}
    began = time.monotonic()
    try:
        made = agent.backup(stanza, type)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"leader": True, "backup": made, "seconds": round(time.monotonic() - began, 1)}


# Unaligned, one row: when the archiver last succeeded (UTC), its counts, and whether this
# member is a replica (a replica archives nothing: its answer is not the cluster's).
ARCHIVER_SQL = (
    "SELECT coalesce(to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
    " archived_count, failed_count, coalesce(last_failed_wal, ''),"
    " coalesce(to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
    " pg_is_in_recovery() FROM pg_stat_archiver"
)


def archiver() -> dict[str, Any]:
    """This member's ``pg_stat_archiver``: ``last_archived_time`` (UTC, ISO 8601, or None),
    ``archived_count``, ``failed_count``, ``last_failed_wal``, ``last_failed_time`` and
    ``replica`` (a replica's archiver is idle).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbackrest.archiver
    """
    pg = (__pillar__.get("pigsty") or {}).get("pg") or {}
    runner = psql.salt_runner(__salt__["cmd.run_all"], pg.get("dbsu", "postgres"))
    try:
        row = psql.Psql(runner, port=int(pg.get("port", 5432))).query(ARCHIVER_SQL).strip()
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    last, archived, failed, failed_wal, failed_time, replica = row.split("|")
    return {
        "last_archived_time": last or None,
        "archived_count": int(archived),
        "failed_count": int(failed),
        "last_failed_wal": failed_wal or None,
        "last_failed_time": failed_time or None,
        "replica": replica == "t",
    }
