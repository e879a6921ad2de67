"""SQL for roles and databases: quoting, reads, diffs and the exact scripts sent to psql."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest

from pigsalt.agent import AgentError, scram, sql
from tests.unit import pg_rows

SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
TEST_VERIFIER = scram.verifier("test", salt=SALT)
P = sql.PREAMBLE

USER, DATABASE = pg_rows.USER, pg_rows.DATABASE


def current_role(**overrides: Any) -> dict[str, Any]:
    """The test user as ``parse_roles`` returns it once it is in place."""
    return pg_rows.role_row(**{"password": TEST_VERIFIER, **overrides})


current_database = pg_rows.database_row


# --- quoting and running ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("test", '"test"'), ('a"b', '"a""b"'), ("Select", '"Select"'), ('""', '""""""'), ("ü x;--", '"ü x;--"')],
)
def test_ident_always_quotes_and_doubles_inner_quotes(name: str, quoted: str):
    assert sql.ident(name) == quoted


@pytest.mark.parametrize("name", ["", "a\x00b", "x" * 64, "é" * 32])
def test_ident_rejects_empty_nul_and_names_postgres_would_truncate(name: str):
    with pytest.raises(AgentError):
        sql.ident(name)


def test_literal_doubles_single_quotes_and_keeps_backslashes():
    assert sql.literal("it's") == "'it''s'"
    assert sql.literal("a\\'; DROP ROLE x; --") == "'a\\''; DROP ROLE x; --'"
    with pytest.raises(AgentError, match="NUL"):
        sql.literal("a\x00")


def test_every_script_starts_without_statement_logging():
    assert P.startswith(
        "SET log_statement = 'none';\nSET log_min_error_statement = 'panic';\n"
        "SET password_encryption = 'scram-sha-256';\n"
    )
    spec = sql.RoleSpec.from_pillar(USER)
    db = sql.DatabaseSpec.from_pillar({**DATABASE, "schemas": ["app"], "allowconn": False})
    scripts = [
        sql.read_roles_sql(["test"]),
        sql.read_passwords_sql(["test"]),
        sql.read_database_sql("test"),
        sql.read_objects_sql(),
        sql.read_hba_sql(),
        sql.RELOAD_SQL,
        sql.role_sql(spec, sql.role_diff(None, spec)),
        *(s.sql for s in sql.database_sql(db, sql.database_diff(None, db))),
    ]
    assert all(script.startswith(P) for script in scripts)


def test_query_wraps_rows_in_one_json_document():
    assert sql.query("SELECT 1 AS one") == f"{P}SELECT coalesce(json_agg(t), '[]') FROM (\nSELECT 1 AS one\n) t;\n"
    assert sql.parse_rows('[{"one": 1}]\n') == [{"one": 1}]
    assert sql.parse_rows("[]") == []
    with pytest.raises(AgentError, match="did not print one JSON document"):
        sql.parse_rows("ERROR")
    with pytest.raises(AgentError, match="not a list of rows"):
        sql.parse_rows('{"one": 1}')


def test_reads_quote_the_names_they_look_for():
    assert "WHERE r.rolname IN ('a\"b', 'it''s') ORDER BY r.rolname\n) t;" in sql.read_roles_sql(["it's", 'a"b'])
    assert "WHERE rolname IN ('test') ORDER BY rolname\n) t;" in sql.read_passwords_sql(["test", "test"])
    assert "WHERE d.datname = 'it''s'\n) t;" in sql.read_database_sql("it's")
    with pytest.raises(AgentError, match="no names"):
        sql.read_roles_sql([])


def test_scrub_hides_secrets_and_anything_shaped_like_a_password():
    stderr = (
        'ERROR:  syntax error at or near "x"\nLINE 1: ALTER ROLE "t" WITH PASSWORD \'SCRAM-SHA-256$4096:abc$d:e\' x\n'
        "hunter2 md5" + "a" * 32 + " SCRAM-SHA-256$4096:zz..."
    )
    assert sql.scrub(stderr, ["hunter2", None]) == (
        'ERROR:  syntax error at or near "x"\n'
        'LINE 1: ALTER ROLE "t" WITH PASSWORD (hidden) x\n(hidden) (hidden) (hidden)'
    )


# --- roles -----------------------------------------------------------------------------------


def test_role_spec_from_a_pillar_entry():
    assert sql.RoleSpec.from_pillar(USER) == sql.RoleSpec(name="test", password="test", roles=("dbrole_admin",))
    spec = sql.RoleSpec.from_pillar(
        {"name": "r", "login": False, "expire_at": "2030-01-02", "parameters": {"Search_Path": "a, b", "jit": True}}
    )
    assert (spec.login, spec.valid_until, spec.password) == (False, "2030-01-02", None)
    assert spec.parameters == (("jit", ("on",)), ("search_path", ("a", "b")))


def test_expire_in_counts_days_from_today_and_wins_over_expire_at():
    entry = {**USER, "expire_in": 30, "expire_at": "2030-01-02"}
    assert sql.RoleSpec.from_pillar(entry, today=date(2025, 1, 31)).valid_until == "2025-03-02"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**USER, "colour": "blue"}, "role test: unknown keys colour"),
        ({**USER, "login": "yes"}, "role test: login must be true or false, not 'yes'"),
        ({**USER, "connlimit": "10"}, "role test: connlimit must be an integer"),
        ({**USER, "expire_at": "31/12/2030"}, "role test: expire_at must be a date YYYY-MM-DD"),
        ({**USER, "roles": "dbrole_admin"}, "role test: roles must be a list of names"),
        ({**USER, "parameters": {"bad name": 1}}, "'bad name' is not a configuration parameter name"),
        ({**USER, "parameters": {"x": [1]}}, r"parameter x: \[1\] is not a string, number or boolean"),
        ({**USER, "password": 5}, "role test: password must be a string"),
        ({"login": True}, "role entry without a name"),
    ],
)
def test_role_spec_rejects_bad_entries(entry: dict[str, Any], message: str):
    with pytest.raises(AgentError, match=message):
        sql.RoleSpec.from_pillar(entry)


def test_parse_roles_turns_setconfig_into_a_mapping():
    row = {**current_role(), "roles": ["b", "a"], "parameters": ['search_path="$user", public', "jit=off"]}
    assert sql.parse_roles(json.dumps([row])) == {
        "test": {**row, "roles": ["a", "b"], "parameters": {"search_path": '"$user", public', "jit": "off"}}
    }
    assert sql.parse_roles(json.dumps([{**row, "parameters": None}]))["test"]["parameters"] == {}


def test_diff_of_an_absent_role_lists_what_differs_from_create_role_defaults():
    diff = sql.role_diff(None, sql.RoleSpec.from_pillar(USER))
    assert diff == {
        "exists": {"old": False, "new": True},
        "login": {"old": False, "new": True},
        "roles": {"old": [], "new": ["dbrole_admin"]},
        "password": {"old": "(unset)", "new": "changed"},
    }


def test_create_role_sql_sends_a_verifier_never_the_plaintext():
    spec = sql.RoleSpec.from_pillar(USER)
    script = sql.role_sql(spec, sql.role_diff(None, spec), salt=SALT)
    assert script == (
        f"{P}BEGIN;\n"
        'CREATE ROLE "test" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS '
        f"CONNECTION LIMIT -1 PASSWORD '{TEST_VERIFIER}';\n"
        'GRANT "dbrole_admin" TO "test";\n'
        "COMMIT;\n"
    )
    assert "'test'" not in script


def test_a_role_in_place_has_no_diff():
    assert sql.role_diff(current_role(), sql.RoleSpec.from_pillar(USER)) == {}
    # Extra memberships and settings the inventory does not mention are left alone.
    extra = current_role(roles=["dbrole_admin", "other"], parameters={"work_mem": "64MB"})
    assert sql.role_diff(extra, sql.RoleSpec.from_pillar(USER)) == {}


def test_alter_role_sql_changes_only_what_differs():
    spec = sql.RoleSpec.from_pillar(
        {
            **USER,
            "password": "new",
            "connlimit": 10,
            "expire_at": "2030-01-02",
            "roles": ["dbrole_admin", "dbrole_readonly"],
            "parameters": {"statement_timeout": "30s"},
        }
    )
    current = current_role(login=False, valid_until="2029-01-01", parameters={"work_mem": "64MB"})
    diff = sql.role_diff(current, spec)
    assert diff == {
        "login": {"old": False, "new": True},
        "connlimit": {"old": -1, "new": 10},
        "valid_until": {"old": "2029-01-01", "new": "2030-01-02"},
        "roles": {"old": ["dbrole_admin"], "new": ["dbrole_admin", "dbrole_readonly"]},
        "parameters": {"old": {"work_mem": "64MB"}, "new": {"statement_timeout": "30s", "work_mem": "64MB"}},
        "password": {"old": "(set)", "new": "changed"},
    }
    assert sql.role_sql(spec, diff, salt=SALT) == (
        f"{P}BEGIN;\n"
        f"ALTER ROLE \"test\" WITH LOGIN CONNECTION LIMIT 10 VALID UNTIL '2030-01-02' "
        f"PASSWORD '{scram.verifier('new', salt=SALT)}';\n"
        'GRANT "dbrole_readonly" TO "test";\n'
        "ALTER ROLE \"test\" SET statement_timeout = '30s';\n"
        "COMMIT;\n"
    )


def test_removing_an_expiry_sets_infinity_and_an_empty_comment_drops_it():
    spec = sql.RoleSpec.from_pillar({**USER, "password": None})
    diff = sql.role_diff(current_role(valid_until="2030-01-02", comment="old"), spec)
    assert diff == {"valid_until": {"old": "2030-01-02", "new": None}, "comment": {"old": "old", "new": ""}}
    assert sql.role_sql(spec, diff) == (
        f'{P}BEGIN;\nALTER ROLE "test" WITH VALID UNTIL \'infinity\';\nCOMMENT ON ROLE "test" IS NULL;\nCOMMIT;\n'
    )


def test_force_revokes_memberships_the_inventory_does_not_list():
    spec = sql.RoleSpec.from_pillar(USER)
    current = current_role(roles=["dbrole_admin", "other"])
    diff = sql.role_diff(current, spec, force=True)
    assert diff == {"roles": {"old": ["dbrole_admin", "other"], "new": ["dbrole_admin"]}}
    assert sql.role_sql(spec, diff) == f'{P}BEGIN;\nREVOKE "other" FROM "test";\nCOMMIT;\n'


@pytest.mark.parametrize(
    ("stored", "old"),
    [(None, "(unset)"), ("md5" + "0" * 32, "(set)"), ("test", "(set)"), (scram.verifier("other"), "(set)")],
)
def test_a_password_that_is_not_the_scram_verifier_of_the_wanted_one_changes(stored: str | None, old: str):
    diff = sql.role_diff(current_role(password=stored), sql.RoleSpec.from_pillar(USER))
    assert diff == {"password": {"old": old, "new": "changed"}}


def test_without_a_password_the_password_is_never_touched():
    spec = sql.RoleSpec.from_pillar({**USER, "password": None})
    assert sql.role_diff(current_role(password=None), spec) == {}
    assert "PASSWORD" not in sql.role_sql(spec, sql.role_diff(None, spec))


@pytest.mark.parametrize("hashed", [TEST_VERIFIER, "md5" + "a" * 32])
def test_a_prehashed_password_is_compared_and_sent_as_it_is(hashed: str):
    spec = sql.RoleSpec.from_pillar({**USER, "password": hashed})
    assert spec.prehashed
    assert sql.role_diff(current_role(password=hashed), spec) == {}
    diff = sql.role_diff(current_role(password=scram.verifier("test")), spec)
    assert diff == {"password": {"old": "(set)", "new": "changed"}}
    assert f"PASSWORD '{hashed}'" in sql.role_sql(spec, diff)


def test_hostile_names_and_comments_are_quoted():
    spec = sql.RoleSpec.from_pillar(
        {
            "name": 'a"b',
            "login": False,
            "comment": "it's; DROP ROLE x; --",
            "roles": ['x"y'],
            "parameters": {"search_path": '"$user", public', "jit": False},
        }
    )
    diff = sql.role_diff(None, spec)
    assert diff == {
        "exists": {"old": False, "new": True},
        "comment": {"old": "", "new": "it's; DROP ROLE x; --"},
        "roles": {"old": [], "new": ['x"y']},
        "parameters": {"old": {}, "new": {"jit": "off", "search_path": "$user, public"}},
    }
    assert sql.role_sql(spec, diff) == (
        f"{P}BEGIN;\n"
        'CREATE ROLE "a""b" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS '
        "CONNECTION LIMIT -1;\n"
        'GRANT "x""y" TO "a""b";\n'
        "COMMENT ON ROLE \"a\"\"b\" IS 'it''s; DROP ROLE x; --';\n"
        'ALTER ROLE "a""b" SET jit = \'off\';\n'
        "ALTER ROLE \"a\"\"b\" SET search_path = '$user', 'public';\n"
        "COMMIT;\n"
    )


def test_list_settings_compare_with_the_quoting_postgres_adds():
    spec = sql.RoleSpec.from_pillar({**USER, "parameters": {"search_path": "$user, public"}})
    stored = current_role(parameters={"search_path": '"$user", public'})
    assert sql.role_diff(stored, spec) == {}
    changed = current_role(parameters={"search_path": "public"})
    assert sql.role_diff(changed, spec) == {
        "parameters": {"old": {"search_path": "public"}, "new": {"search_path": "$user, public"}}
    }


# --- databases -------------------------------------------------------------------------------


def test_database_spec_from_a_pillar_entry():
    spec = sql.DatabaseSpec.from_pillar(
        {**DATABASE, "extensions": ["pg_trgm", {"name": "postgis", "schema": "gis"}], "schemas": ["gis"]}
    )
    assert spec == sql.DatabaseSpec(
        name="test",
        owner="test",
        schemas=("gis",),
        extensions=(sql.Extension("pg_trgm"), sql.Extension("postgis", "gis")),
    )
    minimal = sql.DatabaseSpec.from_pillar({"name": "meta", "locale": "en_US.UTF-8"}, dbsu="dba")
    assert (minimal.owner, minimal.lc_collate, minimal.lc_ctype) == ("dba", "en_US.UTF-8", "en_US.UTF-8")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**DATABASE, "extensions": [{"schema": "x"}]}, "is not an extension name or"),
        ({**DATABASE, "owner": ""}, "identifier '' must be 1 to 63 bytes long"),
        ({**DATABASE, "size": 1}, "database test: unknown keys size"),
        ({**DATABASE, "parameters": [1]}, "database test: parameters must be a mapping"),
    ],
)
def test_database_spec_rejects_bad_entries(entry: dict[str, Any], message: str):
    with pytest.raises(AgentError, match=message):
        sql.DatabaseSpec.from_pillar(entry)


def test_create_database_runs_alone_then_the_rest_in_the_database():
    spec = sql.DatabaseSpec.from_pillar(
        {
            **DATABASE,
            "comment": "test's database",
            "revokeconn": True,
            "schemas": ["app"],
            "extensions": ["pg_trgm", {"name": "cube", "schema": "app"}],
            "parameters": {"work_mem": "32MB"},
        }
    )
    diff = sql.database_diff(None, spec)
    assert diff == {
        "exists": {"old": False, "new": True},
        "owner": {"old": None, "new": "test"},
        "comment": {"old": "", "new": "test's database"},
        "revokeconn": {"old": False, "new": True},
        "parameters": {"old": {}, "new": {"work_mem": "32MB"}},
        "schemas": {"old": [], "new": ["app"]},
        "extensions": {"old": [], "new": ["cube", "pg_trgm"]},
    }
    assert sql.database_sql(spec, diff) == [
        sql.Script(
            "postgres",
            f'{P}CREATE DATABASE "test" WITH OWNER "test" TEMPLATE "template1" ENCODING \'UTF8\' '
            "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TABLESPACE \"pg_default\" CONNECTION LIMIT -1;\n",
        ),
        sql.Script(
            "postgres",
            f"{P}BEGIN;\n"
            "COMMENT ON DATABASE \"test\" IS 'test''s database';\n"
            "ALTER DATABASE \"test\" SET work_mem = '32MB';\n"
            'REVOKE CONNECT ON DATABASE "test" FROM PUBLIC;\n'
            "COMMIT;\n",
        ),
        sql.Script(
            "test",
            f"{P}BEGIN;\n"
            'CREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "test";\n'
            'CREATE EXTENSION IF NOT EXISTS "pg_trgm" CASCADE;\n'
            'CREATE EXTENSION IF NOT EXISTS "cube" WITH SCHEMA "app" CASCADE;\n'
            "COMMIT;\n",
        ),
    ]


def test_a_database_in_place_has_no_diff():
    spec = sql.DatabaseSpec.from_pillar({**DATABASE, "schemas": ["app"], "extensions": ["pg_trgm"]})
    objects = {"schemas": ["app", "pg_catalog", "public"], "extensions": ["pg_trgm", "plpgsql"]}
    assert sql.database_diff(current_database(lc_collate="C.utf8"), spec, objects) == {}


def test_alter_database_only_what_differs_and_refuse_connections_last():
    spec = sql.DatabaseSpec.from_pillar(
        {**DATABASE, "owner": "app", "allowconn": False, "connlimit": 5, "schemas": ["app", "public"]}
    )
    current = current_database(revokeconn=True, comment="x", parameters={"work_mem": "1MB"})
    objects = {"schemas": ["public"], "extensions": ["plpgsql"]}
    diff = sql.database_diff(current, spec, objects)
    assert diff == {
        "owner": {"old": "test", "new": "app"},
        "allowconn": {"old": True, "new": False},
        "connlimit": {"old": -1, "new": 5},
        "comment": {"old": "x", "new": ""},
        "revokeconn": {"old": True, "new": False},
        "schemas": {"old": ["public"], "new": ["app", "public"]},
    }
    assert sql.database_sql(spec, diff) == [
        sql.Script(
            "postgres",
            f"{P}BEGIN;\n"
            'ALTER DATABASE "test" OWNER TO "app";\n'
            'ALTER DATABASE "test" WITH CONNECTION LIMIT 5;\n'
            'COMMENT ON DATABASE "test" IS NULL;\n'
            'GRANT CONNECT ON DATABASE "test" TO PUBLIC;\n'
            "COMMIT;\n",
        ),
        sql.Script("test", f'{P}BEGIN;\nCREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "app";\nCOMMIT;\n'),
        sql.Script("postgres", f'{P}ALTER DATABASE "test" WITH ALLOW_CONNECTIONS false;\n'),
    ]


def test_allowing_connections_again_comes_first():
    spec = sql.DatabaseSpec.from_pillar({**DATABASE, "extensions": ["pg_trgm"]})
    diff = sql.database_diff(current_database(allowconn=False), spec, None)
    assert diff == {"allowconn": {"old": False, "new": True}}  # schemas/extensions unknown: not compared
    assert sql.database_sql(spec, diff) == [
        sql.Script("postgres", f'{P}BEGIN;\nALTER DATABASE "test" WITH ALLOW_CONNECTIONS true;\nCOMMIT;\n')
    ]


def test_attributes_fixed_at_creation_cannot_change_in_place():
    spec = sql.DatabaseSpec.from_pillar(DATABASE)
    with pytest.raises(AgentError) as caught:
        sql.database_diff(current_database(encoding="SQL_ASCII"), spec)
    assert str(caught.value) == (
        "database test: encoding is SQL_ASCII, the inventory asks UTF8; it cannot change in place"
    )
    with pytest.raises(AgentError) as caught:
        sql.database_diff(current_database(lc_collate="C", tablespace="fast"), spec)
    assert str(caught.value) == (
        "database test: lc_collate is C, the inventory asks C.UTF-8; "
        "tablespace is fast, the inventory asks pg_default; they cannot change in place"
    )


def test_hostile_database_names_are_quoted():
    spec = sql.DatabaseSpec.from_pillar({"name": 'd"b', "owner": "o'k", "schemas": ['s"1']})
    scripts = sql.database_sql(spec, sql.database_diff(None, spec))
    assert scripts[0].sql.endswith(
        'CREATE DATABASE "d""b" WITH OWNER "o\'k" TEMPLATE "template1" ENCODING \'UTF8\' '
        "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TABLESPACE \"pg_default\" CONNECTION LIMIT -1;\n"
    )
    assert scripts[1] == sql.Script(
        'd"b', f'{P}BEGIN;\nCREATE SCHEMA IF NOT EXISTS "s""1" AUTHORIZATION "o\'k";\nCOMMIT;\n'
    )


def test_parse_databases_and_objects():
    row = {**current_database(), "parameters": ["work_mem=32MB"]}
    assert sql.parse_databases(json.dumps([row])) == {"test": {**row, "parameters": {"work_mem": "32MB"}}}
    objects = json.dumps([{"schemas": ["public", "app"], "extensions": ["plpgsql"]}])
    assert sql.parse_objects(objects) == {"schemas": ["app", "public"], "extensions": ["plpgsql"]}
    with pytest.raises(AgentError, match="expected one row"):
        sql.parse_objects("[]")
