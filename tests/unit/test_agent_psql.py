"""pigsalt.agent.psql: the command lines, the two ways to run them, and what failures say."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pytest
import salt.modules.cmdmod

from pigsalt.agent import psql


def test_script_argv_has_no_sql_on_the_command_line():
    assert psql.script_argv("test", 5433) == [
        "psql",
        "--no-password",
        "--no-psqlrc",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "/var/run/postgresql",
        "-p",
        "5433",
        "-d",
        "test",
    ]


def test_console_argv():
    assert psql.console_argv("SHOW POOLS", port=6432, user="postgres") == [
        "psql",
        "--no-password",
        "--no-psqlrc",
        "--csv",
        "-h",
        "/var/run/postgresql",
        "-p",
        "6432",
        "-U",
        "postgres",
        "-d",
        "pgbouncer",
        "-c",
        "SHOW POOLS",
    ]
    assert psql.console_argv("RELOAD", port=6433, user="dbsu", socket_dir="/tmp")[4:10] == [
        "-h",
        "/tmp",
        "-p",
        "6433",
        "-U",
        "dbsu",
    ]


def test_salt_runner_passes_the_script_on_stdin_as_runas_and_quietly():
    run_all = mock.create_autospec(
        salt.modules.cmdmod.run_all, return_value={"pid": 1, "retcode": 0, "stdout": "[]", "stderr": ""}
    )
    pg = psql.Psql(psql.salt_runner(run_all, "postgres"), port=5433, timeout=7)
    assert pg.query("SELECT 1;", "test") == "[]"
    run_all.assert_called_once_with(
        psql.script_argv("test", 5433),
        runas="postgres",
        stdin="SELECT 1;",
        python_shell=False,
        timeout=7,
        output_loglevel="quiet",
    )


def test_a_failed_query_says_stderr_never_stdout():
    def run(argv: Sequence[str], stdin: str | None, timeout: float) -> psql.Done:
        return psql.Done(3, "SCRAM-SHA-256$4096:secret", "ERROR:  permission denied\n")

    with pytest.raises(psql.PsqlError) as raised:
        psql.Psql(run).query("SELECT rolpassword FROM pg_authid;")
    assert (str(raised.value), raised.value.returncode) == ("ERROR:  permission denied", 3)
    assert psql.Done(2, "secret", "").error == "psql exited 2"


def test_local_runs_with_stdin_and_a_timeout(tmp_path: Path):
    script = tmp_path / "echo.py"
    script.write_text("import sys; sys.stdout.write(sys.stdin.read().upper())")
    assert psql.local([sys.executable, str(script)], "select 1;", 5) == psql.Done(0, "SELECT 1;", "")
    with pytest.raises(psql.PsqlError, match=r"^no answer within 0\.2 s$"):
        psql.local([sys.executable, "-c", "import time; time.sleep(5)"], None, 0.2)
    with pytest.raises(psql.PsqlError, match=r"^psql is not installed \(or not on PATH\)$"):
        psql.local([str(tmp_path / "psql")], None, 5)
