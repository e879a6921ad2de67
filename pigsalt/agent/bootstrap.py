"""The script Patroni's post_bootstrap runs once after initdb: the system users, no password in clear.

Each password reaches Postgres as a SCRAM verifier computed here (``pigsalt.agent.scram``), after
the preamble every pigsalt script sends (no statement in the log, ``pg_stat_activity`` or
``pg_stat_statements``). A verifier has a random salt, so the file would differ on every render:
``render`` keeps the verifier the previous file holds for a role whenever it still matches that
role's password, and the state rewrites the file only when a password changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pigsalt.agent import scram
from pigsalt.agent.quoting import PREAMBLE, ident, literal

HEADER = (
    "-- Managed by Salt (pgsql.config). Run once by post_bootstrap.sh after initdb, over the local\n"
    "-- socket. Passwords are SCRAM verifiers; the file is still private (owner dbsu, 0600).\n"
)
# One line per role: CREATE ROLE "name" ... PASSWORD 'SCRAM-SHA-256$...';
_CREATE = re.compile(r"^CREATE ROLE (\"(?:[^\"]|\"\")+\") .*PASSWORD '(SCRAM-SHA-256\$[^']+)';$", re.MULTILINE)
# Functions pg_rewind needs on its source, granted to the replicator instead of a superuser.
REWIND_FUNCTIONS = (
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
)


def previous_verifiers(text: str | None) -> dict[str, str]:
    """The verifier each role of an earlier rendering has, by quoted role name."""
    return {name: verifier for name, verifier in _CREATE.findall(text or "")}


def _verifier(name: str, password: str, previous: Mapping[str, str]) -> str:
    kept = previous.get(name)
    if kept is not None and scram.matches(password, kept):
        return kept
    return scram.verifier(password)


def render(users: Mapping[str, Mapping[str, str]], previous: str | None = None) -> str:
    """bootstrap.sql for ``users`` (``replicator``, ``admin``, ``monitor``: ``name``, ``password``)."""
    old = previous_verifiers(previous)
    rep, admin, monitor = (ident(users[k]["name"]) for k in ("replicator", "admin", "monitor"))

    def password(quoted: str, key: str) -> str:
        return literal(_verifier(quoted, users[key]["password"], old))

    lines = [
        HEADER + PREAMBLE,
        "-- replication, and pg_rewind of a diverged former primary (it reads the source's files)",
        f"CREATE ROLE {rep} LOGIN REPLICATION PASSWORD {password(rep, 'replicator')};",
        f"COMMENT ON ROLE {rep} IS 'pigsalt: replication and pg_rewind';",
        *(f"GRANT EXECUTE ON FUNCTION {fn} TO {rep};" for fn in REWIND_FUNCTIONS),
        "",
        f"CREATE ROLE {admin} LOGIN SUPERUSER PASSWORD {password(admin, 'admin')};",
        f"COMMENT ON ROLE {admin} IS 'pigsalt: administrator';",
        "",
        f"CREATE ROLE {monitor} LOGIN IN ROLE pg_monitor PASSWORD {password(monitor, 'monitor')};",
        f"COMMENT ON ROLE {monitor} IS 'pigsalt: monitoring';",
    ]
    return "\n".join(lines) + "\n"
