"""Pgbouncer's admin console, reached with ``psql`` over the Unix socket: pure helpers.

The Salt module and the exporter run the command with ``pigsalt.agent.psql`` (``Psql.console``:
as the database superuser, peer authentication on the socket, so no password travels) and
parse psql's CSV output here. Only the
admin commands pigsalt uses pass ``check_command``: the console also accepts SHUTDOWN, KILL and
SET, which nothing here should send by accident.
"""

from __future__ import annotations

import csv
import io
import re

from pigsalt.agent import AgentError

__all__ = ["SHOW_TOPICS", "check_command", "parse_csv"]

SHOW_TOPICS = frozenset({"POOLS", "USERS", "DATABASES", "CLIENTS", "SERVERS", "STATS", "CONFIG"})
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of psql's ``--csv`` output, keyed by the header line (no output: no rows)."""
    if not text.strip():
        return []
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def check_command(cmd: str) -> str:
    """``cmd`` in canonical form (``SHOW POOLS``, ``PAUSE app``) if it is an admin command pigsalt sends.

    Raises ``AgentError`` for anything else, and for a database name that is not a plain
    identifier.
    """
    words = cmd.strip().rstrip(";").split()
    verb = words[0].upper() if words else ""
    if verb == "SHOW" and len(words) == 2 and words[1].upper() in SHOW_TOPICS:
        return f"SHOW {words[1].upper()}"
    if verb == "RELOAD" and len(words) == 1:
        return "RELOAD"
    if verb in {"PAUSE", "RESUME"} and len(words) <= 2:
        if len(words) == 1:
            return verb
        if not _DATABASE.fullmatch(words[1]):
            raise AgentError(f"pgbouncer {verb}: {words[1]!r} is not a database name (letters, digits, _)")
        return f"{verb} {words[1]}"
    raise AgentError(
        f"pgbouncer: {cmd.strip()!r} is not an admin command pigsalt sends "
        f"(SHOW {'|'.join(sorted(SHOW_TOPICS))}, RELOAD, PAUSE [db], RESUME [db])"
    )
