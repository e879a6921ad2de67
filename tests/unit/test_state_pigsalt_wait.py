"""The ``pigsalt_wait`` states with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from unittest import mock

import pytest
from salt.exceptions import CommandExecutionError

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_wait", ROOT / "_states" / "pigsalt_wait.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)


def wire(test: bool, **functions: object) -> None:
    states.__salt__ = functions  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]


def test_ready_is_success_without_changes():
    wait = mock.Mock(return_value={"ready": True, "what": "DNS a at b", "elapsed": 0.4, "seen": "10.0.0.1"})
    wire(False, **{"pigsalt.wait_dns": wait})
    assert states.dns("pg-test-1", server="10.10.10.10", expect="10.10.10.11", timeout=30) == {
        "name": "pg-test-1",
        "changes": {},
        "result": True,
        "comment": "DNS a at b: ready after 0.4 s (10.0.0.1)",
    }
    wait.assert_called_once_with(timeout=30, name="pg-test-1", server="10.10.10.10", expect="10.10.10.11")


def test_timeout_fails_with_what_was_seen():
    wait = mock.Mock(side_effect=CommandExecutionError("GET http://x/: not ready after 5 s (last: HTTP 502)"))
    wire(False, **{"pigsalt.wait_http": wait})
    assert states.http("http://x/", timeout=5) == {
        "name": "http://x/",
        "changes": {},
        "result": False,
        "comment": "GET http://x/: not ready after 5 s (last: HTTP 502)",
    }


def test_test_mode_looks_once_and_does_not_wait():
    wait = mock.Mock(side_effect=CommandExecutionError("tcp h:1: not ready after 0 s (last: refused)"))
    wire(True, **{"pigsalt.wait_tcp": wait})
    assert states.tcp("h", port=1, timeout=60) == {
        "name": "h",
        "changes": {},
        "result": None,
        "comment": "not ready yet: tcp h:1: not ready after 0 s (last: refused)",
    }
    wait.assert_called_once_with(timeout=0, host="h", port=1)


@pytest.mark.parametrize(
    ("leads", "test", "result", "comment", "waited"),
    [
        (True, False, True, "c: ready after 1.0 s (exit 0)", True),
        (False, False, True, "checked on the Patroni leader only", False),
        (CommandExecutionError("GET https://h:8008/cluster: refused"), False, False, None, False),
        (CommandExecutionError("GET https://h:8008/cluster: refused"), True, None, None, False),
    ],
)
def test_a_leader_only_command_runs_on_the_leader_and_a_dry_run_goes_on_without_patroni(
    leads: object, test: bool, result: bool | None, comment: str | None, waited: bool
):
    wait = mock.Mock(return_value={"ready": True, "what": "c", "elapsed": 1.0, "seen": "exit 0"})
    is_leader = mock.Mock(side_effect=leads) if isinstance(leads, Exception) else mock.Mock(return_value=leads)
    wire(test, **{"pigsalt.wait_cmd": wait, "patroni.is_leader": is_leader})
    ret = states.command("pg-test-2 streams", cmd=["true"], timeout=9, leader_only=True)
    expected = comment or "cannot ask Patroni who leads: GET https://h:8008/cluster: refused"
    assert ret == {"name": "pg-test-2 streams", "changes": {}, "result": result, "comment": expected}
    assert wait.called is waited


@pytest.mark.parametrize("synced", [True, False])
def test_virtual_needs_the_execution_module(synced: bool):
    wire(False, **({"pigsalt.wait_tcp": mock.Mock()} if synced else {}))
    assert states.__virtual__() == ("pigsalt_wait" if synced else (False, mock.ANY))
