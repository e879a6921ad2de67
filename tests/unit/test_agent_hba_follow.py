"""pigsalt.agent.hba_follow on real files and a real Pgbouncer stand-in; psql is a recorded fake."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pytest

from pigsalt.agent import files, hba_follow, hba_sql, psql

PRIMARY = b"# Managed by Salt (pigsalt_hba) for role primary\nhost all all 10.0.0.0/8 scram-sha-256\n"
REPLICA = b"# Managed by Salt (pigsalt_hba) for role replica\nhost all etl 10.0.0.0/8 scram-sha-256\n"


class Psql:
    """psql on stdin: the HBA check answers ``errors`` and records what the live file held then."""

    def __init__(self, live: Path, errors: list[dict[str, object]] | None = None, retcode: int = 0) -> None:
        self.live, self.errors, self.retcode = live, errors or [], retcode
        self.scripts: list[str] = []
        self.seen: list[bytes] = []

    def __call__(self, argv: Sequence[str], script: str | None, timeout: float) -> psql.Done:
        assert list(argv) == psql.script_argv("postgres", 5432) and timeout == hba_follow.PSQL_TIMEOUT
        assert script is not None
        self.scripts.append(script)
        if self.retcode:
            return psql.Done(self.retcode, "", "psql: error: connection refused")
        if "pg_hba_file_rules" in script:
            self.seen.append(self.live.read_bytes())
            rows = [{"hba_file": str(self.live), "errors": self.errors}]
            return psql.Done(0, json.dumps(rows), "")
        return psql.Done(0, "", "")


def staged_files(tmp_path: Path, name: str, live: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(live)
    path.chmod(0o600)
    (tmp_path / f"{name}.primary").write_bytes(PRIMARY)
    (tmp_path / f"{name}.replica").write_bytes(REPLICA)
    return path


def test_a_promoted_member_gets_the_primary_rules_checked_then_reloaded(tmp_path: Path):
    live = staged_files(tmp_path, "pg_hba.conf", REPLICA)
    psql = Psql(live)
    assert hba_follow.main(["--postgres", str(live), "on_role_change", "primary", "pg-test"], run=psql) == 0
    assert live.read_bytes() == PRIMARY
    assert live.stat().st_mode & 0o777 == 0o600
    assert psql.seen == [PRIMARY]  # Postgres checked the new file before the reload
    assert psql.scripts == [hba_sql.read_hba_sql(), hba_sql.RELOAD_SQL]


@pytest.mark.parametrize(("patroni_role", "rules"), [("demoted", REPLICA), ("standby_leader", PRIMARY)])
def test_patroni_roles_map_to_the_two_rule_sets(tmp_path: Path, patroni_role: str, rules: bytes):
    other = PRIMARY if rules == REPLICA else REPLICA
    live = staged_files(tmp_path, "pg_hba.conf", other)
    assert hba_follow.main(["--postgres", str(live), "on_role_change", patroni_role, "pg-test"], run=Psql(live)) == 0
    assert live.read_bytes() == rules


def test_rules_already_in_place_are_not_reloaded(tmp_path: Path):
    live = staged_files(tmp_path, "pg_hba.conf", PRIMARY)
    psql = Psql(live)
    assert hba_follow.main(["--postgres", str(live), "on_start", "primary", "pg-test"], run=psql) == 0
    assert psql.scripts == []


def test_rules_postgres_rejects_are_put_back(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    live = staged_files(tmp_path, "pg_hba.conf", REPLICA)
    psql = Psql(live, errors=[{"line_number": 2, "error": "invalid authentication method"}])
    assert hba_follow.main(["--postgres", str(live), "on_role_change", "primary", "pg-test"], run=psql) == 1
    assert live.read_bytes() == REPLICA
    assert psql.scripts == [hba_sql.read_hba_sql()]  # never reloaded
    assert "Postgres rejects the primary rules, the previous file is back" in caplog.text


def test_postgres_down_keeps_the_new_rules_for_its_start(tmp_path: Path):
    live = staged_files(tmp_path, "pg_hba.conf", REPLICA)
    assert hba_follow.main(["--postgres", str(live), "on_start", "primary", "x"], run=Psql(live, retcode=2)) == 0
    assert live.read_bytes() == PRIMARY


def test_the_notify_file_gets_the_callbacks_arguments_after_the_rules(tmp_path: Path):
    live = staged_files(tmp_path, "pg_hba.conf", REPLICA)
    notify = tmp_path / "pigsalt-role-change"
    argv = ["--postgres", str(live), "--notify", str(notify), "on_role_change", "primary", "pg-test"]
    assert hba_follow.main(argv, run=Psql(live)) == 0
    assert live.read_bytes() == PRIMARY
    assert notify.read_text() == "on_role_change primary pg-test\n"


def test_a_notify_file_that_cannot_be_written_fails_the_callback_after_the_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    live = staged_files(tmp_path, "pg_hba.conf", REPLICA)
    notify = tmp_path / "missing" / "pigsalt-role-change"
    argv = ["--postgres", str(live), "--notify", str(notify), "on_role_change", "primary", "pg-test"]
    assert hba_follow.main(argv, run=Psql(live)) == 1
    assert live.read_bytes() == PRIMARY  # the rules still followed
    assert f"cannot notify {notify}" in caplog.text


def test_no_staged_file_is_an_error_naming_the_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    live = tmp_path / "pg_hba.conf"
    live.write_bytes(REPLICA)
    assert hba_follow.main(["--postgres", str(live), "on_role_change", "primary", "pg-test"], run=Psql(live)) == 1
    assert live.read_bytes() == REPLICA
    assert f"no staged rules for role primary ({live}.primary); run pgsql.hba once" in caplog.text


# A Pgbouncer stand-in that says when it can take SIGHUP, then records it and exits. Its own
# handler, unblocked, not SIGHUP's default action: a test runner can pass SIGHUP on ignored
# (nohup) or blocked, and a child inherits both through exec.
HUP_STAND_IN = """
import pathlib, signal, sys, time
seen = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGHUP, lambda *_: (seen.write_text("SIGHUP"), sys.exit(0)))
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
pathlib.Path(sys.argv[2]).write_text("ready")
time.sleep(600)
"""


def _hup_off() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_pgbouncer_gets_the_new_rules_and_a_sighup(tmp_path: Path):
    live = staged_files(tmp_path, "pgb_hba.conf", REPLICA)
    seen, ready = tmp_path / "seen", tmp_path / "ready"
    # Started as a hostile runner would leave it: SIGHUP blocked and ignored (both survive exec).
    stand_in = subprocess.Popen([sys.executable, "-c", HUP_STAND_IN, str(seen), str(ready)], preexec_fn=_hup_off)
    pidfile = tmp_path / "pgbouncer.pid"
    pidfile.write_text(f"{stand_in.pid}\n")
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and stand_in.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the stand-in never started"
        argv = ["--pgbouncer", str(live), "--pgbouncer-pid", str(pidfile), "on_role_change", "primary", "pg-test"]
        assert hba_follow.main(argv) == 0
        assert stand_in.wait(timeout=120) == 0
    finally:
        stand_in.kill()
        stand_in.wait()
    assert seen.read_text() == "SIGHUP"
    assert live.read_bytes() == PRIMARY


def test_pgbouncer_not_running_keeps_the_new_rules(tmp_path: Path):
    live = staged_files(tmp_path, "pgb_hba.conf", REPLICA)
    argv = ["--pgbouncer", str(live), "--pgbouncer-pid", str(tmp_path / "none.pid"), "on_start", "primary", "t"]
    assert hba_follow.main(argv) == 0
    assert live.read_bytes() == PRIMARY


def test_a_directory_the_dbsu_cannot_write_gets_the_file_rewritten_in_place(tmp_path: Path):
    live = staged_files(tmp_path, "pgb_hba.conf", REPLICA)
    inode = live.stat().st_ino
    with mock.patch.object(files.fileio, "write_bytes_atomic", side_effect=PermissionError("read-only dir")):
        argv = ["--pgbouncer", str(live), "--pgbouncer-pid", str(tmp_path / "none.pid"), "on_start", "primary", "t"]
        assert hba_follow.main(argv) == 0
    assert live.read_bytes() == PRIMARY
    assert live.stat().st_ino == inode


def test_no_live_file_yet_is_left_to_salt(tmp_path: Path):
    # Patroni's first on_start comes before Salt has written Pgbouncer's configuration.
    live = tmp_path / "pgb_hba.conf"
    argv = ["--pgbouncer", str(live), "--pgbouncer-pid", str(tmp_path / "none.pid"), "on_start", "primary", "t"]
    assert hba_follow.main(argv) == 0
    assert not live.exists()
