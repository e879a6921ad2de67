"""The ``pigsalt_pg`` states with a mocked ``__salt__`` (psql answered from canned JSON): whole return dicts."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import date, timedelta
from typing import Any
from unittest import mock

import pytest
from salt.exceptions import CommandExecutionError

from pigsalt.agent import psql, quoting, scram
from tests.conftest import ROOT
from tests.unit import pg_rows

spec = importlib.util.spec_from_file_location("pigsalt_pg", ROOT / "_states" / "pigsalt_pg.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)

PASSWORD = "Pl41n-T3xt-Secret"
STORED = scram.verifier(PASSWORD)
REPLICA = "test: this instance is a replica; roles and databases are applied on the Patroni leader"
READ_ROLE, READ_DATABASE, READ_OBJECTS = "FROM pg_authid r WHERE", "FROM pg_database d", "FROM pg_namespace"
# The state's keyword arguments as the pillar gives them (pigsty:pg:roles[].args), name apart.
USER = {**{k: v for k, v in pg_rows.USER.items() if k != "name"}, "password": PASSWORD}
DATABASE = {
    **{k: v for k, v in pg_rows.DATABASE.items() if k != "name"},
    "schemas": ["app"],
    "extensions": ["pg_trgm"],
}


def role_row(**overrides: Any) -> dict[str, Any]:
    """The user ``test`` as ``read_roles_sql`` prints it once in place (settings not parsed yet)."""
    return pg_rows.role_row(**{"password": STORED, "parameters": None, **overrides})


def database_row(**overrides: Any) -> dict[str, Any]:
    return pg_rows.database_row(**{"parameters": None, **overrides})


OBJECTS = [{"schemas": ["app", "pg_catalog", "public"], "extensions": ["pg_trgm", "plpgsql"]}]


class Psql:
    """``cmd.run_all`` running psql: reads answered in order from canned rows, writes logged.

    ``fail`` maps a piece of SQL to the stderr of a failing run (exit 3, as ON_ERROR_STOP does).
    """

    def __init__(self, reads: dict[str, list[list[dict[str, Any]]]], fail: dict[str, str] | None = None) -> None:
        self.reads = {marker: list(answers) for marker, answers in reads.items()}
        self.fail = fail or {}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert kwargs.keys() == {"runas", "stdin", "python_shell", "timeout", "output_loglevel"}
        assert (kwargs["runas"], kwargs["python_shell"], kwargs["timeout"], kwargs["output_loglevel"]) == (
            "postgres",
            False,
            60,
            "quiet",
        )
        assert argv == psql.script_argv(argv[-1], 5432), "SQL never goes on the command line"
        stdin = kwargs["stdin"]
        assert stdin.startswith(quoting.PREAMBLE)
        self.calls.append((argv[-1], stdin))
        for marker, stderr in self.fail.items():
            if marker in stdin:
                return {"retcode": 3, "stdout": "", "stderr": stderr}
        for marker, answers in self.reads.items():
            if marker in stdin:
                return {"retcode": 0, "stdout": json.dumps(answers.pop(0)) + "\n", "stderr": ""}
        assert "json_agg(t)" not in stdin, f"unexpected read: {stdin}"
        return {"retcode": 0, "stdout": "", "stderr": ""}

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(db, stdin) for db, stdin in self.calls if "json_agg(t)" not in stdin]


def wire(test: bool, psql: Psql | None = None, leader: bool | Exception = True) -> mock.Mock:
    is_leader = mock.Mock(side_effect=leader) if isinstance(leader, Exception) else mock.Mock(return_value=leader)
    states.__salt__ = {  # type: ignore[attr-defined]
        "patroni.is_leader": is_leader,
        "cmd.run_all": mock.Mock(side_effect=psql or Psql({})),
    }
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    states.__context__ = {}  # type: ignore[attr-defined]  # a new state run
    return is_leader


def sent_verifiers(psql: Psql) -> list[str]:
    return re.findall(r"PASSWORD '(SCRAM-SHA-256\$[^']+)'", "".join(stdin for _, stdin in psql.calls))


def assert_no_secret(ret: dict[str, Any], psql: Psql) -> None:
    text = repr(ret)
    for secret in [PASSWORD, STORED, *sent_verifiers(psql)]:
        assert secret not in text


# --- role_present ----------------------------------------------------------------------------


def test_a_run_reads_every_role_once_until_it_changes_one():
    other = role_row(name="dbuser_view", password=None, login=False, roles=[])
    psql = Psql({READ_ROLE: [[role_row(), other], [role_row(), {**other, "comment": "read-only"}]]})
    wire(False, psql)
    view = {"login": False, "roles": []}
    assert states.role_present("test", **USER)["changes"] == {}
    assert states.role_present("dbuser_view", **view)["changes"] == {}
    assert [db for db, _ in psql.calls] == ["postgres"]  # one read for both
    assert "r.rolname !~ '^pg_'" in psql.calls[0][1]
    assert states.role_present("dbuser_view", **{**view, "comment": "read-only"})["result"] is True
    # The change is written, then every role read again (after it, and for the next state).
    assert len([stdin for _, stdin in psql.calls if READ_ROLE in stdin]) == 2
    states.role_present("test", **USER)
    assert len([stdin for _, stdin in psql.calls if READ_ROLE in stdin]) == 2


def test_role_is_created_on_the_leader_with_a_verifier():
    psql = Psql({READ_ROLE: [[], [role_row()]]})
    wire(False, psql)
    ret = states.role_present("test", **USER)
    assert ret == {
        "name": "test",
        "changes": {
            "exists": {"old": False, "new": True},
            "login": {"old": False, "new": True},
            "roles": {"old": [], "new": ["dbrole_admin"]},
            "password": {"old": "(unset)", "new": "changed"},
        },
        "result": True,
        "comment": "test: created",
    }
    ((db, script),) = psql.writes
    (verifier,) = sent_verifiers(psql)
    assert db == "postgres"
    assert script == (
        f"{quoting.PREAMBLE}BEGIN;\n"
        'CREATE ROLE "test" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS '
        f"CONNECTION LIMIT -1 PASSWORD '{verifier}';\n"
        'GRANT "dbrole_admin" TO "test";\n'
        "COMMIT;\n"
    )
    assert scram.matches(PASSWORD, verifier)
    assert PASSWORD not in "".join(stdin for _, stdin in psql.calls)
    assert_no_secret(ret, psql)


def test_role_in_place_is_only_read():
    psql = Psql({READ_ROLE: [[role_row()]]})
    wire(False, psql)
    assert states.role_present("test", **USER) == {
        "name": "test",
        "changes": {},
        "result": True,
        "comment": "test: already in the desired state",
    }
    assert len(psql.calls) == 1 and psql.writes == []


def test_role_test_mode_reports_the_diff_and_only_reads():
    psql = Psql({READ_ROLE: [[role_row(login=False, password="md5" + "0" * 32)]]})
    wire(True, psql)
    ret = states.role_present("test", **{**USER, "connlimit": 3})
    assert ret == {
        "name": "test",
        "changes": {
            "login": {"old": False, "new": True},
            "connlimit": {"old": -1, "new": 3},
            "password": {"old": "(set)", "new": "changed"},
        },
        "result": None,
        "comment": "test: would change connlimit, login, password",
    }
    assert len(psql.calls) == 1 and psql.writes == []
    assert_no_secret(ret, psql)


def test_role_expire_in_sets_valid_until_days_from_today_and_holds_for_the_day():
    until = (date.today() + timedelta(days=30)).isoformat()
    psql = Psql({READ_ROLE: [[role_row(valid_until="2030-01-02")], [role_row(valid_until=until)]]})
    wire(False, psql)
    ret = states.role_present("test", **{**USER, "expire_in": 30, "expire_at": "2030-01-02"})
    assert ret == {
        "name": "test",
        "changes": {"valid_until": {"old": "2030-01-02", "new": until}},
        "result": True,
        "comment": "test: changed valid_until",
    }
    ((_, script),) = psql.writes
    assert f"ALTER ROLE \"test\" WITH VALID UNTIL '{until}';" in script
    # The same day, a second run finds it in place.
    psql = Psql({READ_ROLE: [[role_row(valid_until=until)]]})
    wire(False, psql)
    assert states.role_present("test", **{**USER, "expire_in": 30})["changes"] == {}


@pytest.mark.parametrize("test", [False, True])
def test_role_on_a_replica_changes_nothing(test: bool):
    psql = Psql({})
    wire(test, psql, leader=False)
    assert states.role_present("test", **USER) == {"name": "test", "changes": {}, "result": True, "comment": REPLICA}
    assert psql.calls == []


def test_patroni_is_asked_who_leads_once_per_state_run():
    """A run applies a dozen roles and databases: one question to Patroni, not one each."""
    is_leader = wire(False, Psql({}), leader=False)
    for _ in range(3):
        assert states.role_present("test", **USER)["comment"] == REPLICA
    assert is_leader.call_count == 1


@pytest.mark.parametrize(("test", "result"), [(False, False), (True, None)])
def test_role_when_patroni_does_not_answer(test: bool, result: bool | None):
    psql = Psql({})
    wire(test, psql, leader=CommandExecutionError("GET http://127.0.0.1:8008/cluster: connection refused"))
    assert states.role_present("test", **USER) == {
        "name": "test",
        "changes": {},
        "result": result,
        "comment": "test: cannot tell whether this instance is the Patroni leader: "
        "GET http://127.0.0.1:8008/cluster: connection refused",
    }
    assert psql.calls == []


def test_role_psql_failure_is_reported_without_secrets():
    stderr = (
        'ERROR:  role "dbrole_admin" does not exist\n'
        f"LINE 1: CREATE ROLE \"test\" WITH LOGIN PASSWORD '{STORED}' -- {PASSWORD}"
    )
    psql = Psql({READ_ROLE: [[], []]}, fail={"CREATE ROLE": stderr})
    wire(False, psql)
    ret = states.role_present("test", **USER)
    assert ret == {
        "name": "test",
        "changes": {},
        "result": False,
        "comment": 'test: psql failed: ERROR:  role "dbrole_admin" does not exist\n'
        'LINE 1: CREATE ROLE "test" WITH LOGIN PASSWORD (hidden) -- (hidden)',
    }
    assert_no_secret(ret, psql)


def test_postgres_not_answering_fails_the_read():
    psql = Psql(
        {}, fail={READ_ROLE: 'psql: error: connection to server on socket "/x" failed: No such file or directory'}
    )
    wire(False, psql)
    assert states.role_present("test", **USER) == {
        "name": "test",
        "changes": {},
        "result": False,
        "comment": 'test: cannot read it: psql failed: psql: error: connection to server on socket "/x" failed: '
        "No such file or directory",
    }


def test_role_that_still_differs_after_applying_fails():
    psql = Psql({READ_ROLE: [[role_row(roles=[])], [role_row(roles=[])]]})
    wire(False, psql)
    assert states.role_present("test", **USER) == {
        "name": "test",
        "changes": {"roles": {"old": [], "new": ["dbrole_admin"]}},
        "result": False,
        "comment": "test: still differs after applying: roles",
    }
    assert [stdin.split("BEGIN;\n")[1] for _, stdin in psql.writes] == ['GRANT "dbrole_admin" TO "test";\nCOMMIT;\n']


def test_role_spec_errors_fail_before_anything_runs():
    psql = Psql({})
    is_leader = wire(False, psql)
    assert states.role_present("test", **{**USER, "login": "yes", "__id__": "pgsql-role-test-present"}) == {
        "name": "test",
        "changes": {},
        "result": False,
        "comment": "test: role test: login must be true or false, not 'yes'",
    }
    assert psql.calls == [] and not is_leader.called


def test_role_without_password_never_touches_it():
    psql = Psql({READ_ROLE: [[role_row(password=None, comment="old")], [role_row(password=None)]]})
    wire(False, psql)
    assert states.role_present("test", **{**USER, "password": None}) == {
        "name": "test",
        "changes": {"comment": {"old": "old", "new": ""}},
        "result": True,
        "comment": "test: changed comment",
    }
    assert [stdin for _, stdin in psql.writes] == [
        f'{quoting.PREAMBLE}BEGIN;\nCOMMENT ON ROLE "test" IS NULL;\nCOMMIT;\n'
    ]


# --- database_present ------------------------------------------------------------------------


def test_database_is_created_then_filled_in_itself():
    psql = Psql({READ_DATABASE: [[], [database_row()]], READ_OBJECTS: [OBJECTS]})
    wire(False, psql)
    ret = states.database_present("test", **DATABASE)
    assert ret == {
        "name": "test",
        "changes": {
            "exists": {"old": False, "new": True},
            "owner": {"old": None, "new": "test"},
            "schemas": {"old": [], "new": ["app"]},
            "extensions": {"old": [], "new": ["pg_trgm"]},
        },
        "result": True,
        "comment": "test: created",
    }
    assert [(db, stdin.removeprefix(quoting.PREAMBLE)) for db, stdin in psql.writes] == [
        (
            "postgres",
            'CREATE DATABASE "test" WITH OWNER "test" TEMPLATE "template1" ENCODING \'UTF8\' '
            "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TABLESPACE \"pg_default\" CONNECTION LIMIT -1;\n",
        ),
        (
            "test",
            'BEGIN;\nCREATE SCHEMA IF NOT EXISTS "app" AUTHORIZATION "test";\n'
            'CREATE EXTENSION IF NOT EXISTS "pg_trgm" CASCADE;\nCOMMIT;\n',
        ),
    ]
    assert [db for db, stdin in psql.calls if READ_OBJECTS in stdin] == ["test"]


def test_database_in_place_is_only_read():
    psql = Psql({READ_DATABASE: [[database_row()]], READ_OBJECTS: [OBJECTS]})
    wire(False, psql)
    assert states.database_present("test", **DATABASE) == {
        "name": "test",
        "changes": {},
        "result": True,
        "comment": "test: already in the desired state",
    }
    assert psql.writes == []


def test_database_test_mode_reports_and_only_reads():
    psql = Psql({READ_DATABASE: [[database_row(comment="old")]], READ_OBJECTS: [[{"schemas": [], "extensions": []}]]})
    wire(True, psql)
    assert states.database_present("test", **DATABASE) == {
        "name": "test",
        "changes": {
            "comment": {"old": "old", "new": ""},
            "schemas": {"old": [], "new": ["app"]},
            "extensions": {"old": [], "new": ["pg_trgm"]},
        },
        "result": None,
        "comment": "test: would change comment, extensions, schemas",
    }
    assert len(psql.calls) == 2 and psql.writes == []


def test_database_on_a_replica_changes_nothing():
    psql = Psql({})
    wire(False, psql, leader=False)
    assert states.database_present("test", **DATABASE) == {
        "name": "test",
        "changes": {},
        "result": True,
        "comment": REPLICA,
    }
    assert psql.calls == []


def test_database_with_another_encoding_fails_without_changes():
    psql = Psql({READ_DATABASE: [[database_row(encoding="SQL_ASCII")]], READ_OBJECTS: [OBJECTS]})
    wire(False, psql)
    assert states.database_present("test", **DATABASE) == {
        "name": "test",
        "changes": {},
        "result": False,
        "comment": "test: database test: encoding is SQL_ASCII, the inventory asks UTF8; it cannot change in place",
    }
    assert psql.writes == []


def test_database_failure_midway_reports_what_was_applied():
    psql = Psql(
        {READ_DATABASE: [[], [database_row()]], READ_OBJECTS: [[{"schemas": ["public"], "extensions": ["plpgsql"]}]]},
        fail={"CREATE EXTENSION": 'ERROR:  extension "pg_trgm" is not available'},
    )
    wire(False, psql)
    assert states.database_present("test", **DATABASE) == {
        "name": "test",
        "changes": {"exists": {"old": False, "new": True}, "owner": {"old": None, "new": "test"}},
        "result": False,
        "comment": 'test: psql failed (step 2 of 2, in database test): ERROR:  extension "pg_trgm" is not available',
    }


def test_database_refusing_connections_is_not_read_inside():
    psql = Psql({READ_DATABASE: [[database_row(allowconn=False)]]})
    wire(False, psql)
    assert states.database_present("test", **{**DATABASE, "allowconn": False}) == {
        "name": "test",
        "changes": {},
        "result": True,
        "comment": "test: already in the desired state",
    }
    assert [db for db, _ in psql.calls] == ["postgres"]


@pytest.mark.parametrize("missing", [None, "No module named 'pigsalt'"])
def test_virtual_needs_the_pigsalt_package(missing: str | None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(states, "_MISSING", missing)
    assert states.__virtual__() == ("pigsalt_pg" if missing is None else (False, mock.ANY))


# --- default privileges -----------------------------------------------------------------------

READ_DEFAULT_ACL = "FROM pg_default_acl d"
GRANTS = ["GRANT SELECT ON TABLES TO dbrole_readonly", "GRANT USAGE, CREATE ON SCHEMAS TO dbrole_admin"]
OWNERS = ["postgres", "dbuser_dba"]


def acl_rows(owner: str) -> list[dict[str, Any]]:
    """``owner``'s entries once both grants are in (Postgres adds the owner's own privileges)."""
    return [
        {"owner": owner, "objtype": "r", "acl": [f"{owner}=arwdDxt/{owner}", f"dbrole_readonly=r/{owner}"]},
        {"owner": owner, "objtype": "n", "acl": [f"{owner}=UC/{owner}", f"dbrole_admin=UC/{owner}"]},
    ]


def default_privileges() -> dict[str, Any]:
    result: dict[str, Any] = states.default_privileges_present("test", owners=OWNERS, grants=GRANTS)
    return result


def test_default_privileges_missing_are_granted_in_that_database():
    # dbuser_dba has none yet; postgres has the table grant but only USAGE on schemas for dbrole_admin.
    partial = [acl_rows("postgres")[0], {"owner": "postgres", "objtype": "n", "acl": ["dbrole_admin=U/postgres"]}]
    psql = Psql({READ_DEFAULT_ACL: [partial, acl_rows("postgres") + acl_rows("dbuser_dba")]})
    wire(False, psql)
    lacking = [
        "FOR ROLE postgres GRANT USAGE, CREATE ON SCHEMAS TO dbrole_admin",
        "FOR ROLE dbuser_dba GRANT SELECT ON TABLES TO dbrole_readonly",
        "FOR ROLE dbuser_dba GRANT USAGE, CREATE ON SCHEMAS TO dbrole_admin",
    ]
    assert default_privileges() == {
        "name": "test",
        "changes": {"default_privileges": {"old": None, "new": lacking}},
        "result": True,
        "comment": "test: changed default_privileges",
    }
    assert [db for db, _ in psql.calls] == ["test", "test", "test"]  # read, grant, read back: in that database
    assert psql.writes == [
        (
            "test",
            quoting.PREAMBLE + 'ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" GRANT USAGE, CREATE ON SCHEMAS TO '
            '"dbrole_admin";\nALTER DEFAULT PRIVILEGES FOR ROLE "dbuser_dba" GRANT SELECT ON TABLES TO '
            '"dbrole_readonly";\nALTER DEFAULT PRIVILEGES FOR ROLE "dbuser_dba" GRANT USAGE, CREATE ON SCHEMAS TO '
            '"dbrole_admin";\n',
        )
    ]


def test_default_privileges_in_place_change_nothing():
    psql = Psql({READ_DEFAULT_ACL: [acl_rows("postgres") + acl_rows("dbuser_dba")]})
    wire(False, psql)
    assert default_privileges() == {
        "name": "test",
        "changes": {},
        "result": True,
        "comment": "test: already in the desired state",
    }
    assert psql.writes == []


def test_default_privileges_test_mode_and_replica_touch_nothing():
    psql = Psql({READ_DEFAULT_ACL: [[]]})
    wire(True, psql)
    assert default_privileges()["result"] is None and psql.writes == []
    wire(False, Psql({}), leader=False)
    assert default_privileges()["comment"] == REPLICA


def test_a_bad_default_privilege_fails_before_any_psql():
    psql = Psql({})
    wire(False, psql)
    result = states.default_privileges_present("test", owners=OWNERS, grants=["GRANT EXECUTE ON TABLES TO x"])
    assert result == {
        "name": "test",
        "changes": {},
        "result": False,
        "comment": "test: default privilege 'GRANT EXECUTE ON TABLES TO x': EXECUTE does not apply to TABLES",
    }
    assert psql.calls == []
