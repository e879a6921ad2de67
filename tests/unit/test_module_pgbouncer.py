"""The ``pgbouncer`` execution module with an autospec'd ``cmd.run_all``: exact command lines, whole returns."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

from pigsalt.agent import psql
from tests.conftest import ROOT
from tests.unit.test_agent_pgbouncer import POOLS_CSV, POOLS_ROWS


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgbouncer_module", ROOT / "_modules" / "pgbouncer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mod = load()

PILLAR = {
    "pigsty": {
        "node": {"name": "pg-test-1", "ip": "10.10.10.11", "meta": False},
        "pg": {"instance": "pg-test-1", "dbsu": "postgres", "pgbouncer": {"port": 6432, "pool_mode": "transaction"}},
    }
}

DATABASES_CSV = (
    "name,host,port,database,force_user,pool_size,min_pool_size,reserve_pool_size,server_lifetime,pool_mode,"
    "load_balance_hosts,max_connections,current_connections,max_client_connections,current_client_connections,"
    "paused,disabled\n"
    "meta,/var/run/postgresql,5432,meta,,100,0,0,3600,,,0,1,0,1,0,0\n"
    "pgbouncer,,6432,pgbouncer,pgbouncer,2,0,0,3600,statement,,0,0,0,1,0,0\n"
)


@pytest.fixture(autouse=True)
def psql_on_path() -> Iterator[None]:
    """The calls look for psql first; this host may not have the Postgres client."""
    with mock.patch("salt.utils.path.which", return_value="/usr/bin/psql"):
        yield


def wire(**answer: Any) -> mock.MagicMock:
    run_all = mock.create_autospec(
        salt.modules.cmdmod.run_all, return_value={"pid": 4242, "retcode": 0, "stdout": "", "stderr": ""} | answer
    )
    mod.__salt__ = {"cmd.run_all": run_all}  # type: ignore[attr-defined]
    mod.__pillar__ = PILLAR  # type: ignore[attr-defined]
    return run_all


def argv(command: str) -> list[str]:
    """The command line, as pigsalt.agent.psql builds it (spelled out in test_agent_psql)."""
    return psql.console_argv(command, port=6432, user="postgres")


def assert_ran(run_all: mock.MagicMock, command: str) -> None:
    run_all.assert_called_once_with(
        argv(command), runas="postgres", python_shell=False, timeout=30, output_loglevel="quiet"
    )


def test_virtual_loads_without_psql_and_a_call_says_why_it_fails():
    """A dry run before the first deploy names pgbouncer.reload (module.run) while psql is not installed yet."""
    wire()
    with mock.patch("salt.utils.path.which", return_value=None):
        assert mod.__virtual__() == "pgbouncer"
        with pytest.raises(
            CommandExecutionError, match=r"^psql is not on PATH \(the Postgres client is not installed\)$"
        ):
            mod.pools()


def test_virtual_without_the_pigsalt_package(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pigsalt.agent", None)
    assert load().__virtual__() == (
        False,
        "the pigsalt package is not importable in the minion's Python: "
        "import of pigsalt.agent halted; None in sys.modules",
    )


def test_pools():
    run_all = wire(stdout=POOLS_CSV)
    assert mod.pools() == POOLS_ROWS
    assert_ran(run_all, "SHOW POOLS")


def test_databases():
    run_all = wire(stdout=DATABASES_CSV)
    assert mod.databases()[0] == {
        "name": "meta",
        "host": "/var/run/postgresql",
        "port": "5432",
        "database": "meta",
        "force_user": "",
        "pool_size": "100",
        "min_pool_size": "0",
        "reserve_pool_size": "0",
        "server_lifetime": "3600",
        "pool_mode": "",
        "load_balance_hosts": "",
        "max_connections": "0",
        "current_connections": "1",
        "max_client_connections": "0",
        "current_client_connections": "1",
        "paused": "0",
        "disabled": "0",
    }
    assert_ran(run_all, "SHOW DATABASES")


@pytest.mark.parametrize(
    ("function", "command", "stdout"),
    [
        ("users", "SHOW USERS", "name,pool_size,reserve_pool_size,pool_mode,max_user_connections,current_connections,"
         "max_user_client_connections,current_client_connections\ndbuser_meta,,,,0,1,0,1\n"),
        ("clients", "SHOW CLIENTS", "type,user,database,replication,state,addr,port\nC,dbuser_meta,meta,none,active,"
         "10.10.10.10,50112\n"),
        ("stats", "SHOW STATS", "database,total_xact_count,total_query_count\nmeta,1208,1208\n"),
    ],
)  # fmt: skip
def test_show_commands(function: str, command: str, stdout: str):
    run_all = wire(stdout=stdout)
    header, row = stdout.splitlines()
    assert getattr(mod, function)() == [dict(zip(header.split(","), row.split(","), strict=True))]
    assert_ran(run_all, command)


def test_empty_answer_is_no_rows():
    wire(stdout="type,user,database,replication,state,addr,port\n")
    assert mod.clients() == []


@pytest.mark.parametrize(
    ("call", "command", "expected"),
    [
        (lambda: mod.pause(), "PAUSE", {"paused": True, "database": None}),
        (lambda: mod.pause(database="meta"), "PAUSE meta", {"paused": True, "database": "meta"}),
        (lambda: mod.resume(), "RESUME", {"resumed": True, "database": None}),
        (lambda: mod.resume("meta"), "RESUME meta", {"resumed": True, "database": "meta"}),
    ],
)
def test_actions(call: Any, command: str, expected: dict[str, Any]):
    run_all = wire(stdout=command + "\n")
    assert call() == expected
    assert_ran(run_all, command)


def test_reload_is_a_sighup_through_systemd_not_the_console():
    run_all = wire()
    status, reload = mock.Mock(return_value=True), mock.Mock(return_value=True)
    mod.__salt__.update({"service.status": status, "service.reload": reload})  # type: ignore[attr-defined]
    assert mod.reload() == {"reloaded": True}
    reload.assert_called_once_with("pgbouncer")
    run_all.assert_not_called()


def test_reload_of_a_stopped_pgbouncer_says_it_is_not_running():
    wire()
    reload = mock.Mock()
    mod.__salt__.update({"service.status": mock.Mock(return_value=False), "service.reload": reload})  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError, match=r"^pgbouncer is not running$"):
        mod.reload()
    reload.assert_not_called()


def test_failure_is_an_error_with_psql_stderr():
    run_all = wire(retcode=1, stderr="ERROR:  already suspended/paused\n")
    with pytest.raises(CommandExecutionError) as caught:
        mod.pause()
    assert str(caught.value) == "pgbouncer PAUSE: ERROR:  already suspended/paused"
    assert_ran(run_all, "PAUSE")


def test_unreachable_console():
    wire(
        retcode=2,
        stderr='psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.6432" failed: '
        "No such file or directory\n",
    )
    with pytest.raises(CommandExecutionError) as caught:
        mod.pools()
    assert str(caught.value) == (
        'pgbouncer SHOW POOLS: psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.6432" '
        "failed: No such file or directory"
    )


def test_bad_database_name_runs_nothing():
    run_all = wire()
    with pytest.raises(CommandExecutionError) as caught:
        mod.pause(database="meta; SHUTDOWN")
    assert str(caught.value) == (
        "pgbouncer: 'PAUSE meta; SHUTDOWN' is not an admin command pigsalt sends "
        "(SHOW CLIENTS|CONFIG|DATABASES|POOLS|SERVERS|STATS|USERS, RELOAD, PAUSE [db], RESUME [db])"
    )
    run_all.assert_not_called()


def test_no_postgres_on_this_node():
    run_all = wire()
    mod.__pillar__ = {"pigsty": {"node": {"name": "meta"}}}  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError, match=r"^this node holds no Postgres instance$"):
        mod.pools()
    run_all.assert_not_called()
