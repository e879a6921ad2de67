"""Databases: the spec from a pillar entry, the reads, the diff and the exact scripts sent to psql."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pigsalt.agent import AgentError, databases, quoting
from tests.unit import pg_rows

P = quoting.PREAMBLE

DATABASE = pg_rows.DATABASE
current_database = pg_rows.database_row


def test_read_quotes_the_database_name_it_looks_for():
    assert "WHERE d.datname = 'it''s'\n) t;" in databases.read_database_sql("it's")


def test_database_spec_from_a_pillar_entry():
    spec = databases.DatabaseSpec.from_pillar(
        {**DATABASE, "extensions": ["pg_trgm", {"name": "postgis", "schema": "gis"}], "schemas": ["gis"]}
    )
    assert spec == databases.DatabaseSpec(
        name="test",
        owner="test",
        schemas=("gis",),
        extensions=(databases.Extension("pg_trgm"), databases.Extension("postgis", "gis")),
    )
    minimal = databases.DatabaseSpec.from_pillar({"name": "meta", "locale": "en_US.UTF-8"}, dbsu="dba")
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
        databases.DatabaseSpec.from_pillar(entry)


def test_create_database_runs_alone_then_the_rest_in_the_database():
    spec = databases.DatabaseSpec.from_pillar(
        {
            **DATABASE,
            "comment": "test's database",
            "revokeconn": True,
            "schemas": ["app"],
            "extensions": ["pg_trgm", {"name": "cube", "schema": "app"}],
            "parameters": {"work_mem": "32MB"},
        }
    )
    diff = databases.database_diff(None, spec)
    assert diff == {
        "exists": {"old": False, "new": True},
        "owner": {"old": None, "new": "test"},
        "comment": {"old": "", "new": "test's database"},
        "revokeconn": {"old": False, "new": True},
        "parameters": {"old": {}, "new": {"work_mem": "32MB"}},
        "schemas": {"old": [], "new": ["app"]},
        "extensions": {"old": [], "new": ["cube", "pg_trgm"]},
    }
    assert databases.database_sql(spec, diff) == [
        databases.Script(
            "postgres",
            f'{P}CREATE DATABASE "test" WITH OWNER "test" TEMPLATE "template1" ENCODING \'UTF8\' '
            "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TABLESPACE \"pg_default\" CONNECTION LIMIT -1;\n",
        ),
        databases.Script(
            "postgres",
            f"{P}BEGIN;\n"
            "COMMENT ON DATABASE \"test\" IS 'test''s database';\n"
            "ALTER DATABASE \"test\" SET work_mem = '32MB';\n"
            'REVOKE CONNECT ON DATABASE "test" FROM PUBLIC;\n'
            "COMMIT;\n",
        ),
        databases.Script(
            "test",
            f"{P}BEGIN;\n"
            'CREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "test";\n'
            'CREATE EXTENSION IF NOT EXISTS "pg_trgm" CASCADE;\n'
            'CREATE EXTENSION IF NOT EXISTS "cube" WITH SCHEMA "app" CASCADE;\n'
            "COMMIT;\n",
        ),
    ]


def test_a_database_in_place_has_no_diff():
    spec = databases.DatabaseSpec.from_pillar({**DATABASE, "schemas": ["app"], "extensions": ["pg_trgm"]})
    objects = {"schemas": ["app", "pg_catalog", "public"], "extensions": ["pg_trgm", "plpgsql"]}
    assert databases.database_diff(current_database(lc_collate="C.utf8"), spec, objects) == {}


def test_alter_database_only_what_differs_and_refuse_connections_last():
    spec = databases.DatabaseSpec.from_pillar(
        {**DATABASE, "owner": "app", "allowconn": False, "connlimit": 5, "schemas": ["app", "public"]}
    )
    current = current_database(revokeconn=True, comment="x", parameters={"work_mem": "1MB"})
    objects = {"schemas": ["public"], "extensions": ["plpgsql"]}
    diff = databases.database_diff(current, spec, objects)
    assert diff == {
        "owner": {"old": "test", "new": "app"},
        "allowconn": {"old": True, "new": False},
        "connlimit": {"old": -1, "new": 5},
        "comment": {"old": "x", "new": ""},
        "revokeconn": {"old": True, "new": False},
        "schemas": {"old": ["public"], "new": ["app", "public"]},
    }
    assert databases.database_sql(spec, diff) == [
        databases.Script(
            "postgres",
            f"{P}BEGIN;\n"
            'ALTER DATABASE "test" OWNER TO "app";\n'
            'ALTER DATABASE "test" WITH CONNECTION LIMIT 5;\n'
            'COMMENT ON DATABASE "test" IS NULL;\n'
            'GRANT CONNECT ON DATABASE "test" TO PUBLIC;\n'
            "COMMIT;\n",
        ),
        databases.Script("test", f'{P}BEGIN;\nCREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "app";\nCOMMIT;\n'),
        databases.Script("postgres", f'{P}ALTER DATABASE "test" WITH ALLOW_CONNECTIONS false;\n'),
    ]


def test_allowing_connections_again_comes_first():
    spec = databases.DatabaseSpec.from_pillar({**DATABASE, "extensions": ["pg_trgm"]})
    diff = databases.database_diff(current_database(allowconn=False), spec, None)
    assert diff == {"allowconn": {"old": False, "new": True}}  # schemas/extensions unknown: not compared
    assert databases.database_sql(spec, diff) == [
        databases.Script("postgres", f'{P}BEGIN;\nALTER DATABASE "test" WITH ALLOW_CONNECTIONS true;\nCOMMIT;\n')
    ]


def test_attributes_fixed_at_creation_cannot_change_in_place():
    spec = databases.DatabaseSpec.from_pillar(DATABASE)
    with pytest.raises(AgentError) as caught:
        databases.database_diff(current_database(encoding="SQL_ASCII"), spec)
    assert str(caught.value) == (
        "database test: encoding is SQL_ASCII, the inventory asks UTF8; it cannot change in place"
    )
    with pytest.raises(AgentError) as caught:
        databases.database_diff(current_database(lc_collate="C", tablespace="fast"), spec)
    assert str(caught.value) == (
        "database test: lc_collate is C, the inventory asks C.UTF-8; "
        "tablespace is fast, the inventory asks pg_default; they cannot change in place"
    )


def test_hostile_database_names_are_quoted():
    spec = databases.DatabaseSpec.from_pillar({"name": 'd"b', "owner": "o'k", "schemas": ['s"1']})
    scripts = databases.database_sql(spec, databases.database_diff(None, spec))
    assert scripts[0].sql.endswith(
        'CREATE DATABASE "d""b" WITH OWNER "o\'k" TEMPLATE "template1" ENCODING \'UTF8\' '
        "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TABLESPACE \"pg_default\" CONNECTION LIMIT -1;\n"
    )
    assert scripts[1] == databases.Script(
        'd"b', f'{P}BEGIN;\nCREATE SCHEMA IF NOT EXISTS "s""1" AUTHORIZATION "o\'k";\nCOMMIT;\n'
    )


def test_parse_databases_and_objects():
    row = {**current_database(), "parameters": ["work_mem=32MB"]}
    assert databases.parse_databases(json.dumps([row])) == {"test": {**row, "parameters": {"work_mem": "32MB"}}}
    objects = json.dumps([{"schemas": ["public", "app"], "extensions": ["plpgsql"]}])
    assert databases.parse_objects(objects) == {"schemas": ["app", "public"], "extensions": ["plpgsql"]}
    with pytest.raises(AgentError, match="expected one row"):
        databases.parse_objects("[]")
