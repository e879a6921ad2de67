"""Quoting, the preamble every script starts with, psql's JSON output and scrubbing secrets."""

from __future__ import annotations

import pytest

from pigsalt.agent import AgentError, databases, hba_sql, quoting, roles
from tests.unit import pg_rows

P = quoting.PREAMBLE

USER, DATABASE = pg_rows.USER, pg_rows.DATABASE


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("test", '"test"'), ('a"b', '"a""b"'), ("Select", '"Select"'), ('""', '""""""'), ("ü x;--", '"ü x;--"')],
)
def test_ident_always_quotes_and_doubles_inner_quotes(name: str, quoted: str):
    assert quoting.ident(name) == quoted


@pytest.mark.parametrize("name", ["", "a\x00b", "x" * 64, "é" * 32])
def test_ident_rejects_empty_nul_and_names_postgres_would_truncate(name: str):
    with pytest.raises(AgentError):
        quoting.ident(name)


def test_literal_doubles_single_quotes_and_keeps_backslashes():
    assert quoting.literal("it's") == "'it''s'"
    assert quoting.literal("a\\'; DROP ROLE x; --") == "'a\\''; DROP ROLE x; --'"
    with pytest.raises(AgentError, match="NUL"):
        quoting.literal("a\x00")


def test_every_script_starts_without_statement_logging():
    # Nothing of the session reaches pg_stat_statements, not even the preamble's own SETs.
    assert P.startswith(
        "SET pg_stat_statements.track = 'none';\nSET pg_stat_statements.track_utility = off;\n"
        "SET log_statement = 'none';\nSET log_min_error_statement = 'panic';\n"
        "SET password_encryption = 'scram-sha-256';\n"
    )
    spec = roles.RoleSpec.from_pillar(USER)
    db = databases.DatabaseSpec.from_pillar({**DATABASE, "schemas": ["app"], "allowconn": False})
    scripts = [
        roles.read_roles_sql(["test"]),
        roles.read_passwords_sql(["test"]),
        databases.read_database_sql("test"),
        databases.read_objects_sql(),
        hba_sql.read_hba_sql(),
        hba_sql.RELOAD_SQL,
        roles.role_sql(spec, roles.role_diff(None, spec)),
        *(s.sql for s in databases.database_sql(db, databases.database_diff(None, db))),
    ]
    assert all(script.startswith(P) for script in scripts)


def test_query_wraps_rows_in_one_json_document():
    assert quoting.query("SELECT 1 AS one") == f"{P}SELECT coalesce(json_agg(t), '[]') FROM (\nSELECT 1 AS one\n) t;\n"
    assert quoting.parse_rows('[{"one": 1}]\n') == [{"one": 1}]
    assert quoting.parse_rows("[]") == []
    with pytest.raises(AgentError, match="did not print one JSON document"):
        quoting.parse_rows("ERROR")
    with pytest.raises(AgentError, match="not a list of rows"):
        quoting.parse_rows('{"one": 1}')


def test_scrub_hides_secrets_and_anything_shaped_like_a_password():
    stderr = (
        'ERROR:  syntax error at or near "x"\nLINE 1: ALTER ROLE "t" WITH PASSWORD \'SCRAM-SHA-256$4096:abc$d:e\' x\n'
        "hunter2 md5" + "a" * 32 + " SCRAM-SHA-256$4096:zz..."
    )
    assert quoting.scrub(stderr, ["hunter2", None]) == (
        'ERROR:  syntax error at or near "x"\n'
        'LINE 1: ALTER ROLE "t" WITH PASSWORD (hidden) x\n(hidden) (hidden) (hidden)'
    )


# --- roles -----------------------------------------------------------------------------------
