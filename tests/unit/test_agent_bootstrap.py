"""bootstrap.sql: the system users with SCRAM verifiers, stable across renders, and its state."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from pigsalt.agent import bootstrap, scram

USERS = {
    "replicator": {"name": "replicator", "password": "rep-secret"},
    "admin": {"name": 'dbuser "dba"', "password": "adm'secret"},
    "monitor": {"name": "dbuser_monitor", "password": "mon-secret"},
}


def test_no_password_in_clear_and_the_preamble_first():
    text = bootstrap.render(USERS)
    for user in USERS.values():
        assert user["password"] not in text
    assert text.index("SET pg_stat_statements.track_utility = off;") < text.index("CREATE ROLE")
    assert text.index("SET log_statement = 'none';") < text.index("CREATE ROLE")
    verifiers = bootstrap.previous_verifiers(text)
    assert set(verifiers) == {'"replicator"', '"dbuser ""dba"""', '"dbuser_monitor"'}
    assert scram.matches("adm'secret", verifiers['"dbuser ""dba"""'])
    assert 'CREATE ROLE "dbuser_monitor" LOGIN IN ROLE pg_monitor PASSWORD \'SCRAM-SHA-256$4096:' in text


def test_a_rerender_keeps_matching_verifiers_and_replaces_a_changed_one():
    first = bootstrap.render(USERS)
    assert bootstrap.render(USERS, first) == first
    changed = {**USERS, "monitor": {"name": "dbuser_monitor", "password": "rotated"}}
    second = bootstrap.render(changed, first)
    old, new = bootstrap.previous_verifiers(first), bootstrap.previous_verifiers(second)
    assert new['"replicator"'] == old['"replicator"']
    assert new['"dbuser_monitor"'] != old['"dbuser_monitor"']
    assert scram.matches("rotated", new['"dbuser_monitor"'])


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch):
    from _states import pigsalt_pg as states

    states.__opts__ = {"test": False}  # type: ignore[attr-defined]
    me = pwd.getpwuid(os.getuid()).pw_name
    return states, me


def test_the_state_writes_once_private_then_changes_nothing(state, tmp_path: Path):
    states, me = state
    path = tmp_path / "bootstrap.sql"
    ret = states.bootstrap_sql_managed(str(path), USERS, dbsu=me)
    assert (ret["result"], ret["changes"]) == (True, {"bootstrap.sql": "written (verifiers not shown)"})
    assert path.stat().st_mode & 0o777 == 0o600
    again = states.bootstrap_sql_managed(str(path), USERS, dbsu=me)
    assert (again["result"], again["changes"], again["comment"]) == (True, {}, f"{path}: up to date")
    states.__opts__ = {"test": True}
    rotated = {**USERS, "admin": {"name": 'dbuser "dba"', "password": "new"}}
    planned = states.bootstrap_sql_managed(str(path), rotated, dbsu=me)
    assert planned["result"] is None and planned["changes"]
    assert scram.matches("adm'secret", bootstrap.previous_verifiers(path.read_text())['"dbuser ""dba"""'])
    for answer in (ret, again, planned):
        assert not any(u["password"] in str(answer) for u in rotated.values())


@pytest.mark.parametrize(("test", "result"), [(False, False), (True, None)])
def test_a_missing_dbsu_fails_and_a_dry_run_says_what_it_would_write(state, tmp_path: Path, test: bool, result):
    """Before the first deploy the package that creates the dbsu has not run: a dry run goes on."""
    states, _ = state
    states.__opts__ = {"test": test}
    path = tmp_path / "bootstrap.sql"
    ret = states.bootstrap_sql_managed(str(path), USERS, dbsu="no-such-user-here")
    tail = "; would be written once it exists" if test else ""
    assert (ret["result"], ret["changes"]) == (result, {})
    assert ret["comment"].startswith(f"{path}: no such user: ") and ret["comment"].endswith(tail)
    assert not path.exists() and not any(u["password"] in str(ret) for u in USERS.values())
