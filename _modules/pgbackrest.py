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
    from pigsalt.agent import restore as pitr
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


def check() -> dict[str, Any]:
    """``pgbackrest check`` on the Patroni leader: a WAL switch, and a wait until that segment is
    in the repository (so a restore can reach the moment of the call). ``{"leader": False}`` on
    any other member, and on a member whose Patroni does not answer (a stopped cluster).

    CLI Example:

    .. code-block:: bash

        salt -C 'I@pigsty:pg:cluster:pg-test' pgbackrest.check
    """
    stanza = _stanza()
    try:
        leads = bool(__salt__["patroni.is_leader"]())
    except CommandExecutionError as err:
        return {"leader": False, "comment": f"Patroni did not answer: {err}"}
    if not leads:
        return {"leader": False}
    began = time.monotonic()
    try:
        agent.check(stanza)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"leader": True, "seconds": round(time.monotonic() - began, 1)}


def _instance() -> pitr.Instance:
    pg = (__pillar__.get("pigsty") or {}).get("pg") or {}
    return pitr.Instance(pg["data"], pg["bin_dir"], pg.get("dbsu", "postgres"), int(pg.get("port", 5432)))


def _refuse_patroni(what: str) -> None:
    if __salt__["service.status"]("patroni"):
        raise CommandExecutionError(f"{what}: Patroni runs on this member; stop it first (service.stop patroni)")


def restore(type: str, target: str | None = None, set: str | None = None, timeout: float = 6 * 3600) -> dict[str, Any]:
    """Restore this member's data directory from the repository to a point, with Patroni stopped:
    ``type`` is ``time`` (``target``: ISO 8601 with a zone), ``latest`` (the end of the archive) or
    ``backup`` (``set``: the backup's label, consistent and no further); ``set`` also picks the
    backup a ``time`` restore replays from. Postgres then recovers alone (no client can reach it),
    promotes at the target and stops; ``{"target", "timeline", "lsn", "seconds", …}``.

    A step of ``pigsty.restore`` (it stops Patroni on every member first and resets the DCS
    after): called alone it changes only this member's data directory.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pgbackrest.restore type=time target='2026-12-07 10:00:00+00:00'
    """
    stanza = _stanza()
    _refuse_patroni("restore")
    try:
        where = pitr.Target(str(type), target, set)
        return pitr.restore(stanza, _instance(), where, float(timeout))
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def clear_for_clone() -> dict[str, Any]:
    """Empty this member's data directory, with Patroni stopped, so that Patroni's next start
    clones it from the leader: ``{"removed": count}`` (a step of ``pigsty.restore``).

    CLI Example:

    .. code-block:: bash

        salt pg-test-2 pgbackrest.clear_for_clone
    """
    _stanza()
    _refuse_patroni("clear")
    try:
        return pitr.clear(_instance())
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


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
