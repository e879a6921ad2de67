"""The SQL text every script shares: quoting, the preamble, reading psql's output, scrubbing.

Everything here is pure. The state modules run the scripts with ``pigsalt.agent.psql`` (as the
database superuser, over the Unix socket, SQL on standard input); ``roles``, ``databases``,
``privileges`` and ``hba_sql`` build them with these helpers. Every script starts with
``PREAMBLE`` (no statement logging, no statement text in ``pg_stat_activity`` or
``pg_stat_statements``), and whatever psql says goes through ``scrub`` before a comment shows it.

The readers of pillar entries (``bool_field`` …) live here too: roles and databases check their
entries the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pigsalt.agent import AgentError

__all__ = [
    "HIDDEN",
    "MAX_IDENT_BYTES",
    "PREAMBLE",
    "bool_field",
    "ident",
    "in_list",
    "int_field",
    "literal",
    "names_field",
    "no_nul",
    "parse_rows",
    "query",
    "reject_unknown",
    "scrub",
    "str_field",
]

# Sent first in every script: no statement of the session reaches pg_stat_statements (the first
# two, before anything else, so that not even this preamble does), the server log, the slow-query
# log or pg_stat_activity (a password verifier, a read of pg_authid), and the quoting in
# ``literal`` means what it says.
PREAMBLE = (
    "SET pg_stat_statements.track = 'none';\n"
    "SET pg_stat_statements.track_utility = off;\n"
    "SET log_statement = 'none';\n"
    "SET log_min_error_statement = 'panic';\n"
    "SET password_encryption = 'scram-sha-256';\n"
    "SET log_min_duration_statement = -1;\n"
    "SET log_min_duration_sample = -1;\n"
    "SET track_activities = off;\n"
    "SET standard_conforming_strings = on;\n"
)

MAX_IDENT_BYTES = 63  # NAMEDATALEN - 1: Postgres silently truncates longer names


# --- quoting ---------------------------------------------------------------------------------


def no_nul(text: str, what: str) -> str:
    """``text`` itself; ``AgentError`` naming ``what`` when it holds a NUL."""
    if "\x00" in text:
        raise AgentError(f"{what} {text!r} contains a NUL character, which Postgres cannot store")
    return text


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier: always double-quoted, inner quotes doubled.

    Raises ``AgentError`` for an empty name, a NUL, or more than 63 bytes (Postgres would
    truncate the name, and the state would then never find what it created).
    """
    no_nul(name, "identifier")
    if not name or len(name.encode("utf-8")) > MAX_IDENT_BYTES:
        raise AgentError(f"identifier {name!r} must be 1 to {MAX_IDENT_BYTES} bytes long")
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as a standard SQL string literal: single quotes doubled (backslashes are plain)."""
    return "'" + no_nul(value, "string").replace("'", "''") + "'"


# --- scripts and their output ------------------------------------------------------------


def query(select: str) -> str:
    """A script whose only output is the rows of ``select`` as one JSON array."""
    return f"{PREAMBLE}SELECT coalesce(json_agg(t), '[]') FROM (\n{select}\n) t;\n"


def parse_rows(stdout: str) -> list[dict[str, Any]]:
    """The rows printed by a ``query`` script."""
    try:
        rows = json.loads(stdout)
    except json.JSONDecodeError as err:
        raise AgentError(f"psql did not print one JSON document ({err}): {stdout[:200]!r}") from err
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise AgentError(f"psql printed {type(rows).__name__}, not a list of rows")
    return rows


_SECRET_PATTERNS = (
    re.compile(r"SCRAM-SHA-256\$[^\s'\"]*"),
    re.compile(r"md5[0-9a-f]{32}"),
    re.compile(r"PASSWORD\s+'(?:[^']|'')*'?", re.IGNORECASE),
)
HIDDEN = "(hidden)"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (psql's stderr, say) without ``secrets`` nor anything shaped like a password.

    psql echoes the failing statement on a syntax error (``LINE 1: ALTER ROLE … PASSWORD …``):
    whatever reaches a state's comment goes through here first.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = _SECRET_PATTERNS[2].sub(f"PASSWORD {HIDDEN}", text)
    for pattern in _SECRET_PATTERNS[:2]:
        text = pattern.sub(HIDDEN, text)
    return text


def in_list(names: Iterable[str]) -> str:
    """``names`` as the inside of ``IN (…)``: literals, sorted, each once; none is an error."""
    quoted = [literal(no_nul(name, "name")) for name in sorted(set(names))]
    if not quoted:
        raise AgentError("no names to read")
    return ", ".join(quoted)


# --- pillar entries ----------------------------------------------------------------------


def bool_field(entry: Mapping[str, Any], key: str, default: bool, what: str) -> bool:
    """``entry[key]`` (``default`` when absent), which must be a boolean; ``what`` names the entry."""
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise AgentError(f"{what}: {key} must be true or false, not {value!r}")
    return value


def int_field(entry: Mapping[str, Any], key: str, default: int, what: str) -> int:
    """``entry[key]`` (``default`` when absent or null), which must be an integer."""
    value = entry.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise AgentError(f"{what}: {key} must be an integer, not {value!r}")
    return value


def str_field(entry: Mapping[str, Any], key: str, default: str, what: str) -> str:
    """``entry[key]`` (``default`` when absent or null), which must be a string without NUL."""
    value = entry.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise AgentError(f"{what}: {key} must be a string, not {value!r}")
    return no_nul(value, f"{what}: {key}")


def names_field(entry: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
    """``entry[key]``, a list of names each valid as an identifier (empty when absent)."""
    value = entry.get(key) or []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise AgentError(f"{what}: {key} must be a list of names, not {value!r}")
    for name in value:
        ident(name)
    return tuple(value)


def reject_unknown(entry: Mapping[str, Any], known: Iterable[str], ignored: Iterable[str], what: str) -> None:
    """``AgentError`` listing the keys of ``entry`` neither ``known`` nor ``ignored``."""
    extra = sorted(set(entry) - set(known) - set(ignored))
    if extra:
        raise AgentError(f"{what}: unknown keys {', '.join(extra)}")
