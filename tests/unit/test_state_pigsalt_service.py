"""The ``pigsalt_service`` states with mocked ``__salt__`` and ``__states__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from typing import Any
from unittest import mock

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_service", ROOT / "_states" / "pigsalt_service.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)

SHOW = ["systemctl", "show", "--property", "LoadState,ActiveState,UnitFileState,NeedDaemonReload", "pgbouncer"]
SETTLED = "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n"
STARTED = {"name": "pgbouncer", "changes": {"pgbouncer": True}, "result": True, "comment": "Started service pgbouncer"}
FAILED = {"name": "pgbouncer", "changes": {}, "result": False, "comment": "Job for pgbouncer.service failed."}


class Systemctl:
    """``cmd.run_all`` for systemctl and journalctl, with the unit failed or not; records the calls."""

    def __init__(self, failed: bool, show: str = "LoadState=loaded\nActiveState=inactive\n") -> None:
        self.failed = failed
        self.show = show
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert kwargs["python_shell"] is False
        self.calls.append(argv)
        if argv[:2] == ["systemctl", "is-failed"]:
            return {"retcode": 0 if self.failed else 1, "stdout": "", "stderr": ""}
        if argv[:2] == ["systemctl", "show"]:
            return {"retcode": 0, "stdout": self.show, "stderr": ""}
        if argv[0] == "journalctl":
            return {"retcode": 0, "stdout": "bad option 'x'\npgbouncer.service: Failed with result 'exit-code'.\n"}
        return {"retcode": 0, "stdout": "", "stderr": ""}


def wire(
    test: bool, failed: bool, running_ret: dict[str, Any], show: str | None = None
) -> tuple[Systemctl, mock.Mock, mock.Mock]:
    systemctl = Systemctl(failed) if show is None else Systemctl(failed, show)
    running = mock.Mock(return_value=running_ret)
    watch = mock.Mock(return_value=running_ret)
    states.__salt__ = {"cmd.run_all": systemctl}  # type: ignore[attr-defined]
    states.__states__ = {"service.running": running, "service.mod_watch": watch}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return systemctl, running, watch


def test_a_failed_unit_is_reset_before_it_is_started():
    systemctl, running, _ = wire(test=False, failed=True, running_ret=STARTED)
    assert states.running("pgbouncer", enable=True, unmask=True) == {
        **STARTED,
        "comment": "pgbouncer had failed before; its failure record was reset (systemctl reset-failed). "
        "Started service pgbouncer",
    }
    assert systemctl.calls == [
        SHOW,
        ["systemctl", "is-failed", "--quiet", "pgbouncer"],
        ["systemctl", "reset-failed", "pgbouncer"],
    ]
    running.assert_called_once_with("pgbouncer", enable=True, unmask=True)


def test_a_healthy_unit_is_handed_over_untouched():
    systemctl, running, _ = wire(test=False, failed=False, running_ret=STARTED)
    assert states.running("pgbouncer", enable=True) == STARTED
    assert systemctl.calls == [SHOW, ["systemctl", "is-failed", "--quiet", "pgbouncer"]]
    running.assert_called_once_with("pgbouncer", enable=True)


def test_test_mode_resets_nothing():
    would = {"name": "pgbouncer", "changes": {}, "result": None, "comment": "Service pgbouncer is set to start"}
    systemctl, _, _ = wire(test=True, failed=True, running_ret=would)
    assert states.running("pgbouncer", enable=True) == would
    assert systemctl.calls == [SHOW]


def test_a_settled_unit_is_told_from_one_systemctl_show_in_both_modes():
    for test in (False, True):
        systemctl, running, _ = wire(test=test, failed=False, running_ret=STARTED, show=SETTLED)
        assert states.running("pgbouncer", enable=True) == {
            "name": "pgbouncer",
            "changes": {},
            "result": True,
            "comment": "The service pgbouncer is already running and enabled",
        }
        assert systemctl.calls == [SHOW]
        running.assert_not_called()


def test_anything_unsettled_goes_to_service_running():
    unsettled = [
        SETTLED.replace("ActiveState=active", "ActiveState=failed"),
        SETTLED.replace("NeedDaemonReload=no", "NeedDaemonReload=yes"),
        SETTLED.replace("UnitFileState=enabled", "UnitFileState=disabled"),
        SETTLED.replace("LoadState=loaded", "LoadState=masked"),
        "",
    ]
    for show in unsettled:
        _, running, _ = wire(test=True, failed=False, running_ret=STARTED, show=show)
        assert states.running("pgbouncer", enable=True) == STARTED, show
        running.assert_called_once_with("pgbouncer", enable=True)
    _, running, _ = wire(test=True, failed=False, running_ret=STARTED, show=SETTLED)
    assert states.running("pgbouncer", enable=False) == STARTED
    running.assert_called_once_with("pgbouncer", enable=False)
    assert states.running("pgbouncer")["comment"] == "The service pgbouncer is already running"


def test_a_start_that_still_fails_shows_the_journal():
    systemctl, _, _ = wire(test=False, failed=False, running_ret=FAILED)
    assert states.running("pgbouncer", enable=True) == {
        **FAILED,
        "comment": "Job for pgbouncer.service failed.\nlast journal lines of pgbouncer:\n"
        "bad option 'x'\npgbouncer.service: Failed with result 'exit-code'.",
    }
    assert systemctl.calls[-1] == ["journalctl", "--unit", "pgbouncer", "--lines", "8", "--no-pager", "--output", "cat"]


def test_a_watched_change_resets_then_restarts_as_service_does():
    systemctl, _, watch = wire(test=False, failed=True, running_ret=STARTED)
    assert states.mod_watch("pgbouncer", sfun="running", reload=True)["result"] is True
    watch.assert_called_once_with("pgbouncer", sfun="running", reload=True)
    assert ["systemctl", "reset-failed", "pgbouncer"] in systemctl.calls


def test_virtual_needs_salts_service_state():
    states.__states__ = {}  # type: ignore[attr-defined]
    assert states.__virtual__() == (False, "Salt's service state is not available on this minion")
    states.__states__ = {"service.running": mock.Mock()}  # type: ignore[attr-defined]
    assert states.__virtual__() == "pigsalt_service"
