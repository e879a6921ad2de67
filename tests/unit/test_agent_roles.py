"""Roles: the spec from a pillar entry, the read, the diff and the exact script sent to psql."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest

from pigsalt.agent import AgentError, quoting, roles, scram
from tests.unit import pg_rows

SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
TEST_VERIFIER = scram.verifier("test", salt=SALT)
P = quoting.PREAMBLE

USER = pg_rows.USER


def current_role(**overrides: Any) -> dict[str, Any]:
    """The test user as ``parse_roles`` returns it once it is in place."""
    return pg_rows.role_row(**{"password": TEST_VERIFIER, **overrides})


def test_reads_quote_the_role_names_they_look_for():
    assert "WHERE r.rolname IN ('a\"b', 'it''s') ORDER BY r.rolname\n) t;" in roles.read_roles_sql(["it's", 'a"b'])
    assert "WHERE rolname IN ('test') ORDER BY rolname\n) t;" in roles.read_passwords_sql(["test", "test"])
    with pytest.raises(AgentError, match="no names"):
        roles.read_roles_sql([])


def test_role_spec_from_a_pillar_entry():
    assert roles.RoleSpec.from_pillar(USER) == roles.RoleSpec(name="test", password="test", roles=("dbrole_admin",))
    spec = roles.RoleSpec.from_pillar(
        {"name": "r", "login": False, "expire_at": "2030-01-02", "parameters": {"Search_Path": "a, b", "jit": True}}
    )
    assert (spec.login, spec.valid_until, spec.password) == (False, "2030-01-02", None)
    assert spec.parameters == (("jit", ("on",)), ("search_path", ("a", "b")))


def test_expire_in_counts_days_from_today_and_wins_over_expire_at():
    entry = {**USER, "expire_in": 30, "expire_at": "2030-01-02"}
    assert roles.RoleSpec.from_pillar(entry, today=date(2025, 1, 31)).valid_until == "2025-03-02"


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
        roles.RoleSpec.from_pillar(entry)


def test_parse_roles_turns_setconfig_into_a_mapping():
    row = {**current_role(), "roles": ["b", "a"], "parameters": ['search_path="$user", public', "jit=off"]}
    assert roles.parse_roles(json.dumps([row])) == {
        "test": {**row, "roles": ["a", "b"], "parameters": {"search_path": '"$user", public', "jit": "off"}}
    }
    assert roles.parse_roles(json.dumps([{**row, "parameters": None}]))["test"]["parameters"] == {}


def test_diff_of_an_absent_role_lists_what_differs_from_create_role_defaults():
    diff = roles.role_diff(None, roles.RoleSpec.from_pillar(USER))
    assert diff == {
        "exists": {"old": False, "new": True},
        "login": {"old": False, "new": True},
        "roles": {"old": [], "new": ["dbrole_admin"]},
        "password": {"old": "(unset)", "new": "changed"},
    }


def test_create_role_sql_sends_a_verifier_never_the_plaintext():
    spec = roles.RoleSpec.from_pillar(USER)
    script = roles.role_sql(spec, roles.role_diff(None, spec), salt=SALT)
    assert script == (
        f"{P}BEGIN;\n"
        'CREATE ROLE "test" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS '
        f"CONNECTION LIMIT -1 PASSWORD '{TEST_VERIFIER}';\n"
        'GRANT "dbrole_admin" TO "test";\n'
        "COMMIT;\n"
    )
    assert "'test'" not in script


def test_a_role_in_place_has_no_diff():
    assert roles.role_diff(current_role(), roles.RoleSpec.from_pillar(USER)) == {}
    # Extra memberships and settings the inventory does not mention are left alone.
    extra = current_role(roles=["dbrole_admin", "other"], parameters={"work_mem": "64MB"})
    assert roles.role_diff(extra, roles.RoleSpec.from_pillar(USER)) == {}


def test_alter_role_sql_changes_only_what_differs():
    spec = roles.RoleSpec.from_pillar(
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
    diff = roles.role_diff(current, spec)
    assert diff == {
        "login": {"old": False, "new": True},
        "connlimit": {"old": -1, "new": 10},
        "valid_until": {"old": "2029-01-01", "new": "2030-01-02"},
        "roles": {"old": ["dbrole_admin"], "new": ["dbrole_admin", "dbrole_readonly"]},
        "parameters": {"old": {"work_mem": "64MB"}, "new": {"statement_timeout": "30s", "work_mem": "64MB"}},
        "password": {"old": "(set)", "new": "changed"},
    }
    assert roles.role_sql(spec, diff, salt=SALT) == (
        f"{P}BEGIN;\n"
        f"ALTER ROLE \"test\" WITH LOGIN CONNECTION LIMIT 10 VALID UNTIL '2030-01-02' "
        f"PASSWORD '{scram.verifier('new', salt=SALT)}';\n"
        'GRANT "dbrole_readonly" TO "test";\n'
        "ALTER ROLE \"test\" SET statement_timeout = '30s';\n"
        "COMMIT;\n"
    )


def test_removing_an_expiry_sets_infinity_and_an_empty_comment_drops_it():
    spec = roles.RoleSpec.from_pillar({**USER, "password": None})
    diff = roles.role_diff(current_role(valid_until="2030-01-02", comment="old"), spec)
    assert diff == {"valid_until": {"old": "2030-01-02", "new": None}, "comment": {"old": "old", "new": ""}}
    assert roles.role_sql(spec, diff) == (
        f'{P}BEGIN;\nALTER ROLE "test" WITH VALID UNTIL \'infinity\';\nCOMMENT ON ROLE "test" IS NULL;\nCOMMIT;\n'
    )


def test_force_revokes_memberships_the_inventory_does_not_list():
    spec = roles.RoleSpec.from_pillar(USER)
    current = current_role(roles=["dbrole_admin", "other"])
    diff = roles.role_diff(current, spec, force=True)
    assert diff == {"roles": {"old": ["dbrole_admin", "other"], "new": ["dbrole_admin"]}}
    assert roles.role_sql(spec, diff) == f'{P}BEGIN;\nREVOKE "other" FROM "test";\nCOMMIT;\n'


@pytest.mark.parametrize(
    ("stored", "old"),
    [(None, "(unset)"), ("md5" + "0" * 32, "(set)"), ("test", "(set)"), (scram.verifier("other"), "(set)")],
)
def test_a_password_that_is_not_the_scram_verifier_of_the_wanted_one_changes(stored: str | None, old: str):
    diff = roles.role_diff(current_role(password=stored), roles.RoleSpec.from_pillar(USER))
    assert diff == {"password": {"old": old, "new": "changed"}}


def test_without_a_password_the_password_is_never_touched():
    spec = roles.RoleSpec.from_pillar({**USER, "password": None})
    assert roles.role_diff(current_role(password=None), spec) == {}
    assert "PASSWORD" not in roles.role_sql(spec, roles.role_diff(None, spec))


@pytest.mark.parametrize("hashed", [TEST_VERIFIER, "md5" + "a" * 32])
def test_a_prehashed_password_is_compared_and_sent_as_it_is(hashed: str):
    spec = roles.RoleSpec.from_pillar({**USER, "password": hashed})
    assert spec.prehashed
    assert roles.role_diff(current_role(password=hashed), spec) == {}
    diff = roles.role_diff(current_role(password=scram.verifier("test")), spec)
    assert diff == {"password": {"old": "(set)", "new": "changed"}}
    assert f"PASSWORD '{hashed}'" in roles.role_sql(spec, diff)


def test_hostile_names_and_comments_are_quoted():
    spec = roles.RoleSpec.from_pillar(
        {
            "name": 'a"b',
            "login": False,
            "comment": "it's; DROP ROLE x; --",
            "roles": ['x"y'],
            "parameters": {"search_path": '"$user", public', "jit": False},
        }
    )
    diff = roles.role_diff(None, spec)
    assert diff == {
        "exists": {"old": False, "new": True},
        "comment": {"old": "", "new": "it's; DROP ROLE x; --"},
        "roles": {"old": [], "new": ['x"y']},
        "parameters": {"old": {}, "new": {"jit": "off", "search_path": "$user, public"}},
    }
    assert roles.role_sql(spec, diff) == (
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
    spec = roles.RoleSpec.from_pillar({**USER, "parameters": {"search_path": "$user, public"}})
    stored = current_role(parameters={"search_path": '"$user", public'})
    assert roles.role_diff(stored, spec) == {}
    changed = current_role(parameters={"search_path": "public"})
    assert roles.role_diff(changed, spec) == {
        "parameters": {"old": {"search_path": "public"}, "new": {"search_path": "$user, public"}}
    }
