"""The user and the database ``test`` as the SQL and state tests describe them: the pillar entry
and the row psql reads back once it is in place."""

from __future__ import annotations

from typing import Any

# The user `test` as the pillar gives it to pigsalt_pg.role_present (pigsty:pg:roles[].args,
# without dbsu and port).
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
}
# The database `test` as the pillar gives it to pigsalt_pg.database_present
# (pigsty:pg:databases[].args, without dbsu and port).
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
