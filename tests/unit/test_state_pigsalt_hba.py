"""The ``pigsalt_hba`` state on real temp files, with a mocked ``__salt__``: whole return dicts."""

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

from pigsalt.agent import hba_sql, psql
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_hba", ROOT / "_states" / "pigsalt_hba.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)

USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
RULES = {
    "primary": ["# dbsu", "local all postgres peer", "host all all 10.0.0.0/8 scram-sha-256"],
    "replica": ["# dbsu", "local all postgres peer", "host all dbuser_offline 10.0.0.0/8 scram-sha-256"],
}
PRIMARY = (
    "# Managed by Salt (pigsalt_hba) for role primary: edit the inventory, not this file.\n"
    "# dbsu\nlocal all postgres peer\nhost all all 10.0.0.0/8 scram-sha-256\n"
)
REPLICA = (
    "# Managed by Salt (pigsalt_hba) for role replica: edit the inventory, not this file.\n"
    "# dbsu\nlocal all postgres peer\nhost all dbuser_offline 10.0.0.0/8 scram-sha-256\n"
)


class Psql:
    """``cmd.run_all`` for psql: the hba check answers ``errors`` (or exits ``retcode``)."""

    def __init__(self, hba_file: Path, errors: list[dict[str, Any]] | None = None, retcode: int = 0) -> None:
        self.hba_file, self.errors, self.retcode = hba_file, errors or [], retcode
        self.scripts: list[str] = []
        self.seen_on_disk: list[bytes] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert argv == psql.script_argv("postgres", 5432)
        assert (kwargs["runas"], kwargs["python_shell"], kwargs["output_loglevel"]) == ("postgres", False, "quiet")
        self.scripts.append(kwargs["stdin"])
        if self.retcode:
            return {"retcode": self.retcode, "stdout": "", "stderr": "psql: error: connection to server failed"}
        if "pg_hba_file_rules" in kwargs["stdin"]:
            self.seen_on_disk.append(self.hba_file.read_bytes())
            rows = [{"hba_file": str(self.hba_file), "errors": self.errors}]
            return {"retcode": 0, "stdout": json.dumps(rows), "stderr": ""}
        return {"retcode": 0, "stdout": "", "stderr": ""}


def wire(test: bool, psql: Psql | None = None, role: str | Exception = "primary", reload: Any = None) -> dict[str, Any]:
    functions: dict[str, Any] = {
        "patroni.hba_role": mock.Mock(side_effect=role)
        if isinstance(role, Exception)
        else mock.Mock(return_value=role),
        "cmd.run_all": mock.Mock(side_effect=psql),
        "pgbouncer.reload": reload or mock.Mock(return_value={"reloaded": True}),
    }
    states.__salt__ = functions  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return functions


def managed(path: Path, kind: str = "postgres", **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = states.managed(str(path), rules=RULES, kind=kind, user=USER, group=GROUP, **kwargs)
    return result


def existing(path: Path, text: str, mode: int = 0o600, staged: bool = True) -> Path:
    """``path`` holding ``text``; with ``staged``, each role's copy beside it as the state stages it."""
    path.write_text(text)
    path.chmod(mode)
    if staged:
        for role, role_text in (("primary", PRIMARY), ("replica", REPLICA)):
            existing(path.with_name(f"{path.name}.{role}"), role_text, staged=False)
    return path


STAGED = {"staged": {"old": None, "new": ["primary", "replica"]}}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_written_checked_and_reloaded(tmp_path: Path):
    path = tmp_path / "pg_hba.conf"
    psql = Psql(path)
    wire(False, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": {
            "exists": {"old": False, "new": True},
            "rules": {"old": [], "new": ["local all postgres peer", "host all all 10.0.0.0/8 scram-sha-256"]},
            **STAGED,
        },
        "result": True,
        "comment": f"{path}: written, checked by Postgres and reloaded; rules for role primary",
    }
    assert path.read_text() == PRIMARY and mode_of(path) == 0o600
    assert psql.seen_on_disk == [PRIMARY.encode()]  # checked after writing, before reloading
    assert psql.scripts == [hba_sql.read_hba_sql(), hba_sql.RELOAD_SQL]
    # Every role's rules staged for Patroni's role-change callback; no temp file left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pg_hba.conf", "pg_hba.conf.primary", "pg_hba.conf.replica"]
    assert (tmp_path / "pg_hba.conf.replica").read_text() == REPLICA
    assert mode_of(tmp_path / "pg_hba.conf.replica") == 0o600


def test_file_in_place_is_left_alone(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", PRIMARY)
    psql = Psql(path)
    wire(False, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": {},
        "result": True,
        "comment": f"{path}: already in the desired state for role primary",
    }
    assert psql.scripts == []


def test_role_change_after_a_failover(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", REPLICA)
    psql = Psql(path)
    wire(False, psql, role="primary")
    assert managed(path) == {
        "name": str(path),
        "changes": {
            "role": {"old": "replica", "new": "primary"},
            "rules": {
                "old": ["local all postgres peer", "host all dbuser_offline 10.0.0.0/8 scram-sha-256"],
                "new": ["local all postgres peer", "host all all 10.0.0.0/8 scram-sha-256"],
            },
        },
        "result": True,
        "comment": f"{path}: written, checked by Postgres and reloaded; rules for role primary",
    }
    assert path.read_text() == PRIMARY


def test_test_mode_touches_nothing(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", REPLICA, mode=0o644)
    psql = Psql(path)
    functions = wire(True, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": {
            "role": {"old": "replica", "new": "primary"},
            "rules": {
                "old": ["local all postgres peer", "host all dbuser_offline 10.0.0.0/8 scram-sha-256"],
                "new": ["local all postgres peer", "host all all 10.0.0.0/8 scram-sha-256"],
            },
            "mode": {"old": "0644", "new": "0600"},
        },
        "result": None,
        "comment": f"{path}: would write the rules for role primary",
    }
    assert path.read_text() == REPLICA and mode_of(path) == 0o644
    assert psql.scripts == [] and not functions["pgbouncer.reload"].called


def test_rules_postgres_rejects_put_the_previous_file_back(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", REPLICA, mode=0o640)
    psql = Psql(path, errors=[{"line_number": 4, "error": 'invalid authentication method "scram-sha-256"'}])
    wire(False, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path}: Postgres rejects the new rules, the previous file is back: "
        'line 4 (host all all 10.0.0.0/8 scram-sha-256): invalid authentication method "scram-sha-256"',
    }
    assert psql.seen_on_disk == [PRIMARY.encode()]
    assert path.read_text() == REPLICA and mode_of(path) == 0o640
    assert psql.scripts == [hba_sql.read_hba_sql()]  # never reloaded


def test_rejected_new_file_is_removed_again(tmp_path: Path):
    path = tmp_path / "pg_hba.conf"
    wire(False, Psql(path, errors=[{"line_number": 2, "error": "bad"}]))
    assert managed(path)["result"] is False
    assert not path.exists()


def test_postgres_reading_another_file_restores_and_fails(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", REPLICA)
    psql = Psql(tmp_path / "elsewhere.conf")
    psql.hba_file.write_text("")
    wire(False, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": {},
        "result": False,
        "comment": f"{path}: Postgres reads its HBA rules from {tmp_path / 'elsewhere.conf'}, not from this file; "
        "nothing changed",
    }
    assert path.read_text() == REPLICA
    assert psql.scripts == [hba_sql.read_hba_sql()]


def test_postgres_not_running_gets_the_file_for_its_start(tmp_path: Path):
    path = tmp_path / "pg_hba.conf"
    psql = Psql(path, retcode=2)
    wire(False, psql, role=CommandExecutionError("GET http://127.0.0.1:8008/patroni: connection refused"))
    assert managed(path, fallback_role="replica") == {
        "name": str(path),
        "changes": {
            "exists": {"old": False, "new": True},
            "rules": {
                "old": [],
                "new": ["local all postgres peer", "host all dbuser_offline 10.0.0.0/8 scram-sha-256"],
            },
            **STAGED,
        },
        "result": True,
        "comment": f"{path}: written; Postgres is not running, it reads the file when it starts; rules for role "
        "replica (the fallback: Patroni does not answer: GET http://127.0.0.1:8008/patroni: connection refused)",
    }
    assert path.read_text() == REPLICA
    assert psql.scripts == [hba_sql.read_hba_sql()]


def test_pgbouncer_file_is_written_then_reloaded(tmp_path: Path):
    path = existing(tmp_path / "pgb_hba.conf", PRIMARY.replace("# dbsu\n", ""))
    functions = wire(False, role="primary")
    assert managed(path, kind="pgbouncer") == {
        "name": str(path),
        "changes": {"comments": {"old": [PRIMARY.splitlines()[0]], "new": PRIMARY.splitlines()[:2]}},
        "result": True,
        "comment": f"{path}: written and pgbouncer reloaded; rules for role primary",
    }
    assert path.read_text() == PRIMARY
    functions["pgbouncer.reload"].assert_called_once_with()
    assert not functions["cmd.run_all"].called


def test_pgbouncer_not_running_gets_the_file_for_its_start(tmp_path: Path):
    path = tmp_path / "pgb_hba.conf"
    down = mock.Mock(
        side_effect=CommandExecutionError(
            'pgbouncer RELOAD: psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.6432" '
            "failed: No such file or directory"
        )
    )
    wire(False, role="replica", reload=down)
    ret = managed(path, kind="pgbouncer")
    assert ret["result"] is True
    assert ret["comment"] == (
        f"{path}: written; pgbouncer is not running, it reads the file when it starts; rules for role replica"
    )
    assert path.read_text() == REPLICA


def test_pgbouncer_reload_failure_fails_with_the_file_written(tmp_path: Path):
    path = tmp_path / "pgb_hba.conf"
    broken = mock.Mock(side_effect=CommandExecutionError("pgbouncer RELOAD: ERROR:  not allowed"))
    wire(False, role="primary", reload=broken)
    assert managed(path, kind="pgbouncer") == {
        "name": str(path),
        "changes": {
            "exists": {"old": False, "new": True},
            "rules": {"old": [], "new": ["local all postgres peer", "host all all 10.0.0.0/8 scram-sha-256"]},
            **STAGED,
        },
        "result": False,
        "comment": f"{path}: written, but pgbouncer did not reload: pgbouncer RELOAD: ERROR:  not allowed",
    }
    assert path.read_text() == PRIMARY


def test_spacing_alone_is_rewritten(tmp_path: Path):
    path = existing(tmp_path / "pgb_hba.conf", PRIMARY.replace("local all", "local   all") + "\n")
    wire(False, role="primary")
    assert managed(path, kind="pgbouncer") == {
        "name": str(path),
        "changes": {"layout": {"old": "not as pigsalt writes it", "new": "one rule per line"}},
        "result": True,
        "comment": f"{path}: written and pgbouncer reloaded; rules for role primary",
    }
    assert path.read_text() == PRIMARY


def test_mode_drift_alone_is_repaired(tmp_path: Path):
    path = existing(tmp_path / "pgb_hba.conf", PRIMARY, mode=0o644)
    wire(False, role="primary")
    assert managed(path, kind="pgbouncer") == {
        "name": str(path),
        "changes": {"mode": {"old": "0644", "new": "0600"}},
        "result": True,
        "comment": f"{path}: written and pgbouncer reloaded; rules for role primary",
    }
    assert mode_of(path) == 0o600


@pytest.mark.parametrize(
    ("kwargs", "comment"),
    [
        ({"kind": "haproxy"}, "kind must be one of postgres, pgbouncer, not 'haproxy'"),
        ({"kind": "postgres", "rules": {"primary": []}}, "the inventory has no postgres HBA rules for role replica"),
        ({"kind": "postgres", "rules": {"replica": ["a\nb"]}}, "HBA rules must be single lines: ['a\\nb']"),
        ({"kind": "postgres", "user": "no-such-user-here"}, "no such user or group: "),
    ],
)
def test_bad_arguments_fail_without_writing(tmp_path: Path, kwargs: dict[str, Any], comment: str):
    path = tmp_path / "pg_hba.conf"
    wire(False, role="replica")
    arguments = {"rules": RULES, "user": USER, "group": GROUP, **kwargs}
    ret = states.managed(str(path), **arguments)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"].startswith(f"{path}: {comment}")
    assert not path.exists()


def test_a_dry_run_before_the_owner_exists_says_what_it_would_write(tmp_path: Path):
    """Before the first deploy the package that creates the dbsu has not run: not a failure."""
    path = tmp_path / "pg_hba.conf"
    wire(True, role="replica")
    ret = states.managed(str(path), rules=RULES, kind="postgres", user="no-such-user-here", group=GROUP)
    assert (ret["result"], ret["changes"]) == (None, {})
    assert ret["comment"].startswith(f"{path}: no such user or group: ")
    assert ret["comment"].endswith("; would write the rules for role replica once it exists")
    assert not path.exists()


@pytest.mark.parametrize("missing", [None, "No module named 'pigsalt'"])
def test_virtual_needs_the_pigsalt_package(missing: str | None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(states, "_MISSING", missing)
    assert states.__virtual__() == ("pigsalt_hba" if missing is None else (False, mock.ANY))


def test_missing_staged_copies_alone_are_written_without_a_reload(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", PRIMARY, staged=False)
    psql = Psql(path)
    wire(False, psql)
    assert managed(path) == {
        "name": str(path),
        "changes": STAGED,
        "result": True,
        "comment": f"{path}: staged the rules of primary, replica for Patroni's role-change callback; "
        "rules for role primary",
    }
    assert psql.scripts == []  # the live file did not change: nothing to check or reload
    assert (tmp_path / "pg_hba.conf.primary").read_text() == PRIMARY
    assert (tmp_path / "pg_hba.conf.replica").read_text() == REPLICA


def test_a_stale_staged_copy_is_reported_in_test_mode_and_left(tmp_path: Path):
    path = existing(tmp_path / "pg_hba.conf", PRIMARY)
    (tmp_path / "pg_hba.conf.replica").write_text(PRIMARY)
    wire(True, Psql(path))
    assert managed(path) == {
        "name": str(path),
        "changes": {"staged": {"old": None, "new": ["replica"]}},
        "result": None,
        "comment": f"{path}: would write the rules for role primary",
    }
    assert (tmp_path / "pg_hba.conf.replica").read_text() == PRIMARY
