"""pigsalt.agent.replication with psql answered from canned rows."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from pigsalt.agent import replication
from pigsalt.agent.psql import Done


class Run:
    """``psql.Run`` answering every script with ``rows`` (or exiting ``retcode``); records the calls."""

    def __init__(self, rows: list[dict], retcode: int = 0) -> None:
        self.rows, self.retcode = rows, retcode
        self.calls: list[tuple[list[str], str | None, float]] = []

    def __call__(self, argv: Sequence[str], stdin: str | None, timeout: float) -> Done:
        self.calls.append((list(argv), stdin, timeout))
        if self.retcode:
            return Done(self.retcode, "", "psql: error: connection to server failed")
        return Done(0, json.dumps(self.rows), "")


def test_a_streaming_member_passes(capsys: pytest.CaptureFixture[str]):
    run = Run([{"state": "streaming"}])
    assert replication.main(["--member", "pg-test-2", "--port", "5433"], run=run) == 0
    assert capsys.readouterr().out == "pg-test-2 streams from this server\n"
    ((argv, stdin, timeout),) = run.calls
    assert argv[argv.index("-p") + 1] == "5433"
    assert stdin is not None and "application_name = 'pg-test-2'" in stdin
    assert timeout == replication.TIMEOUT


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([], "pg-test-2 does not stream from this server: no WAL sender serves it"),
        ([{"state": "catchup"}], "pg-test-2 does not stream from this server: its WAL sender is catchup"),
    ],
)
def test_a_member_that_does_not_stream_fails_saying_why(rows, why, capsys: pytest.CaptureFixture[str]):
    assert replication.main(["--member", "pg-test-2"], run=Run(rows)) == 1
    assert capsys.readouterr().err == why + "\n"


def test_psql_failure_fails_with_its_message(capsys: pytest.CaptureFixture[str]):
    assert replication.main(["--member", "pg-test-2"], run=Run([], retcode=2)) == 1
    assert capsys.readouterr().err == "cannot read pg_stat_replication: psql: error: connection to server failed\n"


def test_the_member_name_is_a_quoted_literal():
    assert "application_name = 'it''s'" in replication.streaming_sql("it's")
