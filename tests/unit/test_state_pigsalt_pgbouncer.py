"""The ``pigsalt_pgbouncer`` auth file state on real temp files, with a mocked ``__salt__``."""

from __future__ import annotations

import grp
import importlib.util
import json
import os
import pwd
import stat
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from salt.exceptions import CommandExecutionError

from pigsalt.agent import psql, roles, scram
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_pgbouncer", ROOT / "_states" / "pigsalt_pgbouncer.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
MONITOR = scram.verifier("Monitor.Pw")
TEST = scram.verifier("Test.Pw")
USERS = ["test", "dbuser_monitor"]
CONTENT = f'"dbuser_monitor" "{MONITOR}"\n"test" "{TEST}"\n'


class Psql:
    """``cmd.run_all`` for psql: answers the pg_authid read with ``rows``, or exits ``retcode``."""

    def __init__(self, rows: list[dict[str, Any]], retcode: int = 0) -> None:
        self.rows, self.retcode = rows, retcode
        self.scripts: list[str] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert argv == psql.script_argv("postgres", 5432)
        assert (kwargs["runas"], kwargs["python_shell"], kwargs["output_loglevel"]) == ("postgres", False, "quiet")
        self.scripts.append(kwargs["stdin"])
        if self.retcode:
            return {"retcode": self.retcode, "stdout": "", "stderr": "psql: error: connection to server failed"}
        return {"retcode": 0, "stdout": json.dumps(self.rows), "stderr": ""}


AUTHID = [{"name": "dbuser_monitor", "password": MONITOR}, {"name": "test", "password": TEST}]


def wire(test: bool, psql: Psql, reload: Any = None) -> dict[str, Any]:
    functions: dict[str, Any] = {
        "cmd.run_all": mock.Mock(side_effect=psql),
        "pgbouncer.reload": reload or mock.Mock(return_value={"reloaded": True}),
    }
    states.__salt__ = functions  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return functions


def userlist(path: Path, users: list[str] = USERS) -> dict[str, Any]:
    ret: dict[str, Any] = states.userlist_managed(str(path), users=users, user=USER, group=GROUP)
    return ret


def existing(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def assert_no_secret(ret: dict[str, Any]) -> None:
    text = repr(ret)
    for secret in (MONITOR, TEST, "Monitor.Pw", "Test.Pw", "SCRAM-SHA-256"):
        assert secret not in text


def test_new_auth_file_is_written_from_pg_authid_and_reloaded(tmp_path: Path):
    path = tmp_path / "userlist.txt"
    psql = Psql(AUTHID)
    functions = wire(False, psql)
    ret = userlist(path)
    assert ret == {
        "name": str(path),
        "changes": {"exists": {"old": False, "new": True}, "users": {"old": [], "new": ["dbuser_monitor", "test"]}},
        "result": True,
        "comment": f"{path}: written and pgbouncer reloaded (2 users)",
    }
    assert path.read_text() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert psql.scripts == [roles.read_passwords_sql(USERS)]
    functions["pgbouncer.reload"].assert_called_once_with()
    assert_no_secret(ret)


def test_auth_file_in_place_is_left_alone(tmp_path: Path):
    path = existing(tmp_path / "userlist.txt", CONTENT)
    functions = wire(False, Psql(AUTHID))
    assert userlist(path) == {
        "name": str(path),
        "changes": {},
        "result": True,
        "comment": f"{path}: already in the desired state",
    }
    assert not functions["pgbouncer.reload"].called


def test_changed_password_and_user_are_named_never_shown(tmp_path: Path):
    old = scram.verifier("Old.Pw")
    path = existing(tmp_path / "userlist.txt", f'"gone" "{MONITOR}"\n"test" "{old}"\n')
    wire(False, Psql(AUTHID))
    ret = userlist(path)
    assert ret == {
        "name": str(path),
        "changes": {
            "users": {"old": ["gone", "test"], "new": ["dbuser_monitor", "test"]},
            "passwords": {"old": "(set)", "new": "changed for test"},
        },
        "result": True,
        "comment": f"{path}: written and pgbouncer reloaded (2 users)",
    }
    assert path.read_text() == CONTENT
    assert_no_secret(ret)
    assert old not in repr(ret)


def test_test_mode_touches_nothing(tmp_path: Path):
    before = f'"test" "{scram.verifier("Old.Pw")}"\n'
    path = existing(tmp_path / "userlist.txt", before, mode=0o644)
    functions = wire(True, Psql(AUTHID))
    ret = userlist(path)
    assert ret == {
        "name": str(path),
        "changes": {
            "users": {"old": ["test"], "new": ["dbuser_monitor", "test"]},
            "passwords": {"old": "(set)", "new": "changed for test"},
            "mode": {"old": "0644", "new": "0600"},
        },
        "result": None,
        "comment": f"{path}: would write 2 users",
    }
    assert path.read_text() == before and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not functions["pgbouncer.reload"].called
    assert_no_secret(ret)


def test_a_user_not_replayed_yet_fails_naming_it(tmp_path: Path):
    path = existing(tmp_path / "userlist.txt", CONTENT)
    functions = wire(False, Psql(AUTHID[:1]))
    assert userlist(path) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path}: user test is not in pg_authid on this instance yet (replication lag?)",
    }
    assert path.read_text() == CONTENT
    assert not functions["pgbouncer.reload"].called


@pytest.mark.parametrize("password", [None, "md5" + "0" * 32, "plain"])
def test_a_user_without_a_scram_verifier_fails_naming_it(tmp_path: Path, password: str | None):
    path = tmp_path / "userlist.txt"
    wire(False, Psql([AUTHID[0], {"name": "test", "password": password}]))
    ret = userlist(path)
    assert ret == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path}: user test has no SCRAM password",
    }
    assert not path.exists()
    assert "0" * 32 not in repr(ret) and "plain" not in repr(ret)


def test_pgbouncer_not_running_gets_the_file_for_its_start(tmp_path: Path):
    path = tmp_path / "userlist.txt"
    down = mock.Mock(
        side_effect=CommandExecutionError(
            'pgbouncer RELOAD: psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.6432" '
            "failed: Connection refused"
        )
    )
    wire(False, Psql(AUTHID), reload=down)
    assert userlist(path) == {
        "name": str(path),
        "changes": {"exists": {"old": False, "new": True}, "users": {"old": [], "new": ["dbuser_monitor", "test"]}},
        "result": True,
        "comment": f"{path}: written; pgbouncer is not running, it reads the file when it starts (2 users)",
    }
    assert path.read_text() == CONTENT


def test_reload_failure_fails_and_puts_the_old_file_back(tmp_path: Path):
    path = existing(tmp_path / "userlist.txt", f'"dbuser_monitor" "{MONITOR}"\n')
    wire(False, Psql(AUTHID), reload=mock.Mock(side_effect=CommandExecutionError("pgbouncer RELOAD: ERROR: no")))
    assert userlist(path) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path}: written, but pgbouncer did not reload: pgbouncer RELOAD: ERROR: no; "
        "the previous file is back in place",
    }
    # So that a retry, or the next run, writes it again and reloads.
    assert path.read_text() == f'"dbuser_monitor" "{MONITOR}"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("test", "result"), [(False, False), (True, None)])
def test_postgres_not_answering_fails_and_a_dry_run_says_so(tmp_path: Path, test: bool, result: bool | None):
    """A dry run before the first deploy finds no Postgres (the run would start it): not a failure."""
    path = tmp_path / "userlist.txt"
    wire(test, Psql([], retcode=2))
    assert userlist(path) == {
        "name": str(path),
        "changes": {},
        "result": result,
        "comment": f"{path}: cannot read pg_authid: psql: error: connection to server failed",
    }
    assert not path.exists()


@pytest.mark.parametrize(
    ("test", "result", "tail"), [(False, False, ""), (True, None, "; would write it once it exists")]
)
def test_a_missing_owner_fails_and_a_dry_run_says_so(tmp_path: Path, test: bool, result: bool | None, tail: str):
    path = tmp_path / "userlist.txt"
    wire(test, Psql([{"name": "dbuser_monitor", "password": MONITOR}]))
    ret = states.userlist_managed(str(path), users=USERS, user="no-such-user-here", group=GROUP)
    assert (ret["result"], ret["changes"]) == (result, {})
    assert ret["comment"].startswith(f"{path}: no such user or group: ") and ret["comment"].endswith(tail)
    assert not path.exists()


def test_names_with_quotes_round_trip(tmp_path: Path):
    path = tmp_path / "userlist.txt"
    wire(False, Psql([{"name": 'a"b', "password": TEST}]))
    assert userlist(path, users=['a"b'])["result"] is True
    assert path.read_text() == f'"a""b" "{TEST}"\n'
    assert userlist(path, users=['a"b'])["comment"] == f"{path}: already in the desired state"


@pytest.mark.parametrize("missing", [None, "No module named 'pigsalt'"])
def test_virtual_needs_the_pigsalt_package(missing: str | None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(states, "_MISSING", missing)
    assert states.__virtual__() == ("pigsalt_pgbouncer" if missing is None else (False, mock.ANY))


def test_peer_users_are_listed_with_an_empty_password_and_not_read_from_postgres(tmp_path: Path):
    path = tmp_path / "userlist.txt"
    psql = Psql(AUTHID)
    wire(False, psql)
    ret = states.userlist_managed(str(path), users=USERS, user=USER, group=GROUP, peer_users=["postgres"])
    assert ret["result"] is True
    assert ret["changes"]["users"] == {"old": [], "new": ["dbuser_monitor", "postgres", "test"]}
    assert path.read_text() == f'"dbuser_monitor" "{MONITOR}"\n"postgres" ""\n"test" "{TEST}"\n'
    assert psql.scripts == [roles.read_passwords_sql(USERS)]
