"""The user and the database ``test`` as the SQL and state tests describe them: the pillar entry
and the row psql reads back once it is in place."""

from __future__ import annotations

from typing import Any

# The pillar entry of the user `test` (what pigsalt.pillar compiles for pg_users).
USER: dict[str, Any] = {
    "name": "test",
    "password": "test",
    "login": True,
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "inherit": True,
    "replication": False,
    "bypassrls": False,
    "connlimit": -1,
    "expire_at": None,
    "expire_in": None,
    "comment": "",
    "roles": ["dbrole_admin"],
    "parameters": {},
    "pgbouncer": True,
    "pool_mode": "transaction",
    "pool_connlimit": -1,
}
# The pillar entry of the database `test`.
DATABASE: dict[str, Any] = {
    "name": "test",
    "owner": "test",
    "template": "template1",
    "encoding": "UTF8",
    "locale": "C.UTF-8",
    "lc_collate": "C.UTF-8",
    "lc_ctype": "C.UTF-8",
    "tablespace": "pg_default",
    "allowconn": True,
    "revokeconn": False,
    "connlimit": -1,
    "comment": "",
    "schemas": [],
    "extensions": [],
    "parameters": {},
    "pgbouncer": True,
    "pool_mode": "transaction",
}


def role_row(**overrides: Any) -> dict[str, Any]:
    """The user ``test`` as read back once in place (give it its ``password`` verifier)."""
    return {
        "name": "test",
        "login": True,
        "superuser": False,
        "createdb": False,
        "createrole": False,
        "inherit": True,
        "replication": False,
        "bypassrls": False,
        "connlimit": -1,
        "valid_until": None,
        "comment": "",
        "roles": ["dbrole_admin"],
        "parameters": {},
        "password": None,
        **overrides,
    }


def database_row(**overrides: Any) -> dict[str, Any]:
    """The database ``test`` as read back once in place."""
    return {
        "name": "test",
        "owner": "test",
        "encoding": "UTF8",
        "lc_collate": "C.UTF-8",
        "lc_ctype": "C.UTF-8",
        "tablespace": "pg_default",
        "allowconn": True,
        "connlimit": -1,
        "comment": "",
        "revokeconn": False,
        "parameters": {},
        **overrides,
    }
