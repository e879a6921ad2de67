"""The ``pigsalt_patroni`` states with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from salt.exceptions import CommandExecutionError

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_patroni", ROOT / "_states" / "pigsalt_patroni.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)


def member(name: str, role: str, state: str, lag: int | None = None) -> dict[str, Any]:
    return {"name": name, "role": role, "state": state, "lag": lag}


def wire(test: bool, cluster: mock.Mock) -> None:
    states.__salt__ = {"patroni.cluster": cluster}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]


HEALTHY = {
    "leader": "pg-test-2",
    "members": [
        member("pg-test-1", "replica", "streaming", 0),
        member("pg-test-2", "leader", "running"),
        member("pg-test-3", "replica", "starting"),
    ],
}


def test_the_leader_patroni_names_has_joined_whatever_the_inventory_says():
    wire(False, mock.Mock(return_value=HEALTHY))
    ret = states.joined("pg-test-2", timeout=5, interval=0)
    assert ret == {
        "name": "pg-test-2",
        "changes": {},
        "result": True,
        "comment": ret["comment"],
    }
    assert ret["comment"].startswith("pg-test-2 leads (pg-test-1 replica/streaming, pg-test-2 leader/running, ")


def test_a_streaming_replica_has_joined():
    wire(False, mock.Mock(return_value=HEALTHY))
    ret = states.joined("pg-test-1", timeout=5, interval=0)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert ret["comment"].startswith("pg-test-1 streams from pg-test-2 (lag 0); after ")


def test_waits_until_the_replica_streams():
    starting = {**HEALTHY, "members": [*HEALTHY["members"][:2], member("pg-test-3", "replica", "starting")]}
    streaming = {**HEALTHY, "members": [*HEALTHY["members"][:2], member("pg-test-3", "replica", "streaming", 0)]}
    cluster = mock.Mock(side_effect=[CommandExecutionError("GET …/cluster: connection refused"), starting, streaming])
    wire(False, cluster)
    ret = states.joined("pg-test-3", timeout=30, interval=0)
    assert ret["result"] is True and cluster.call_count == 3


def test_times_out_with_what_it_last_saw():
    no_leader = {"leader": None, "members": [member("pg-test-1", "replica", "running")]}
    wire(False, mock.Mock(return_value=no_leader))
    assert states.joined("pg-test-1", timeout=0, interval=0) == {
        "name": "pg-test-1",
        "changes": {},
        "result": False,
        "comment": "pg-test-1 has not joined its cluster after 0 s (last: no running leader "
        "(members: pg-test-1 replica/running))",
    }


def test_test_mode_looks_once():
    cluster = mock.Mock(return_value={**HEALTHY, "members": HEALTHY["members"][:2]})
    wire(True, cluster)
    assert states.joined("pg-test-3", timeout=60, interval=0) == {
        "name": "pg-test-3",
        "changes": {},
        "result": None,
        "comment": "not joined yet: pg-test-3 is not a member yet "
        "(members: pg-test-1 replica/streaming, pg-test-2 leader/running)",
    }
    cluster.assert_called_once_with()


DCS = {"ttl": 30, "loop_wait": 10, "postgresql": {"use_pg_rewind": True, "parameters": {"max_connections": 100}}}


def wire_all(test: bool, **functions: Any) -> dict[str, Any]:
    states.__salt__ = functions  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return functions


def test_config_is_left_alone_when_it_holds_the_settings_whatever_the_types():
    wire_all(False, **{"patroni.is_leader": lambda: True, "patroni.config": lambda: DCS})
    settings = {"ttl": 30, "postgresql": {"parameters": {"max_connections": "100"}}}
    assert states.config_applied("pg-test", settings) == {
        "name": "pg-test",
        "changes": {},
        "result": True,
        "comment": "pg-test: already in the desired state",
    }


def test_config_on_a_replica_changes_nothing():
    config = mock.Mock()
    wire_all(False, **{"patroni.is_leader": lambda: False, "patroni.config": config})
    ret = states.config_applied("pg-test", {"ttl": 60})
    assert (ret["result"], ret["changes"]) == (True, {})
    assert ret["comment"] == "pg-test: this member is not the leader; the leader applies it"
    config.assert_not_called()


def test_config_test_mode_reports_the_diff_and_patches_nothing():
    patch = mock.Mock()
    wire_all(True, **{"patroni.is_leader": lambda: True, "patroni.config": lambda: DCS, "patroni.patch_config": patch})
    settings = {"ttl": 60, "postgresql": {"parameters": {"max_connections": 200, "work_mem": "8MB"}}}
    assert states.config_applied("pg-test", settings) == {
        "name": "pg-test",
        "changes": {
            "postgresql.parameters.max_connections": {"old": 100, "new": 200},
            "postgresql.parameters.work_mem": {"old": None, "new": "8MB"},
            "ttl": {"old": 30, "new": 60},
        },
        "result": None,
        "comment": "pg-test: would change postgresql.parameters.max_connections, postgresql.parameters.work_mem, ttl",
    }
    patch.assert_not_called()


def wire_dcs(stored: dict[str, Any], cluster: mock.Mock, needs_restart: list[str]) -> dict[str, Any]:
    """A leader whose PATCH /config updates ``stored``; ``needs_restart``: what pg_settings says
    takes a restart."""

    def patch(changes: dict[str, Any]) -> dict[str, Any]:
        stored["postgresql"]["parameters"].update(changes["postgresql"]["parameters"])
        return stored

    rows = json.dumps([{"name": name} for name in needs_restart])
    return wire_all(
        False,
        **{
            "patroni.is_leader": lambda: True,
            "patroni.config": lambda: stored,
            "patroni.patch_config": mock.Mock(side_effect=patch),
            "patroni.reload_all": mock.Mock(return_value={"reloaded": []}),
            "patroni.cluster": cluster,
            "cmd.run_all": mock.Mock(return_value={"retcode": 0, "stdout": rows, "stderr": ""}),
        },
    )


def test_config_patches_only_what_differs_and_reads_back():
    stored = {"ttl": 30, "postgresql": {"parameters": {"max_connections": 100}}}
    # The members' HA loops flag the restart one after the other: the state waits for all of them.
    flagged = [
        {"leader": "pg-test-1", "members": [{"name": "pg-test-1", "pending_restart": n > 0}, {"name": "pg-test-2"}]}
        for n in range(2)
    ] + [{"leader": "pg-test-1", "members": [{"name": f"pg-test-{i}", "pending_restart": True} for i in (1, 2)]}]
    cluster = mock.Mock(side_effect=flagged)
    functions = wire_dcs(stored, cluster, ["max_connections"])
    with mock.patch.object(states, "FLAG_POLL", 0):
        ret = states.config_applied("pg-test", {"ttl": 30, "postgresql": {"parameters": {"max_connections": 200}}})
    assert ret == {
        "name": "pg-test",
        "changes": {"postgresql.parameters.max_connections": {"old": 100, "new": 200}},
        "result": True,
        "comment": "pg-test: PATCH /config: postgresql.parameters.max_connections; max_connections take a restart: "
        "every member flags it",
    }
    assert cluster.call_count == 3
    assert (
        "context = 'postmaster' AND name IN ('max_connections')" in functions["cmd.run_all"].call_args.kwargs["stdin"]
    )
    functions["patroni.patch_config"].assert_called_once_with({"postgresql": {"parameters": {"max_connections": 200}}})
    functions["patroni.reload_all"].assert_called_once_with()


def streaming(*pending: str, leader: str = "pg-test-2") -> dict[str, Any]:
    names = ("pg-test-1", "pg-test-2", "pg-test-3")
    members = [
        {**member(n, "leader" if n == leader else "replica", "running" if n == leader else "streaming", 0),
         "pending_restart": n in pending}
        for n in names
    ]  # fmt: skip
    return {"leader": leader, "members": members}


@pytest.mark.parametrize(("test", "result"), [(False, False), (True, None)])
def test_patroni_not_answering_fails_the_roll_and_a_dry_run_says_so(test: bool, result: bool | None):
    """A dry run before the first deploy finds no Patroni (the run would start it): not a failure."""
    down = mock.Mock(side_effect=CommandExecutionError("GET https://10.10.10.16:8008/cluster: connection refused"))
    restart = mock.Mock()
    wire_all(test, **{"patroni.is_leader": down, "patroni.restart_member": restart})
    assert states.rolling_restarted("pg-deb13") == {
        "name": "pg-deb13",
        "changes": {},
        "result": result,
        "comment": "pg-deb13: cannot ask Patroni who leads: GET https://10.10.10.16:8008/cluster: connection refused",
    }
    restart.assert_not_called()


def test_nothing_pending_restarts_nothing():
    restart = mock.Mock()
    wire_all(False, **{"patroni.is_leader": lambda: True, "patroni.cluster": lambda: streaming(),
                       "patroni.restart_member": restart})  # fmt: skip
    assert states.rolling_restarted("pg-test") == {
        "name": "pg-test",
        "changes": {},
        "result": True,
        "comment": "pg-test: no restart pending",
    }
    restart.assert_not_called()


def test_replicas_first_then_a_switchover_then_the_old_primary_as_a_replica():
    calls: list[str] = []
    state = {"leader": "pg-test-2"}

    def cluster() -> dict[str, Any]:
        pending = [n for n in ("pg-test-1", "pg-test-2", "pg-test-3") if f"restart {n}" not in calls]
        return streaming(*pending, leader=state["leader"])

    def switchover(timeout: float) -> dict[str, str]:
        calls.append("switchover")
        state["leader"] = "pg-test-1"
        return {"old": "pg-test-2", "new": "pg-test-1"}

    def restart(name: str, timeout: float) -> dict[str, bool]:
        assert name != state["leader"], f"restarted {name} while it leads"
        calls.append(f"restart {name}")
        return {"restarted": True}

    wire_all(
        False,
        **{
            "patroni.is_leader": lambda: True,
            "patroni.cluster": cluster,
            "patroni.switchover": switchover,
            "patroni.restart_member": restart,
        },
    )
    ret = states.rolling_restarted("pg-test", timeout=5)
    assert calls == ["restart pg-test-1", "restart pg-test-3", "switchover", "restart pg-test-2"]
    assert ret == {
        "name": "pg-test",
        "changes": {
            "pg-test-1": {"old": "pending restart", "new": "restarted"},
            "pg-test-3": {"old": "pending restart", "new": "restarted"},
            "leader": {"old": "pg-test-2", "new": "pg-test-1"},
            "pg-test-2": {"old": "pending restart", "new": "restarted"},
        },
        "result": True,
        "comment": "pg-test: restarted pg-test-1, pg-test-2, pg-test-3, replicas first",
    }


def test_rolling_restart_test_mode_restarts_nothing():
    restart, switchover = mock.Mock(), mock.Mock()
    wire_all(
        True,
        **{
            "patroni.is_leader": lambda: True,
            "patroni.cluster": lambda: streaming("pg-test-2"),
            "patroni.switchover": switchover,
            "patroni.restart_member": restart,
        },
    )
    assert states.rolling_restarted("pg-test") == {
        "name": "pg-test",
        "changes": {
            "pg-test-2": {"old": "pending restart", "new": "restarted"},
            "leader": {"old": "pg-test-2", "new": "a replica"},
        },
        "result": None,
        "comment": "pg-test: would restart pg-test-2",
    }
    restart.assert_not_called()
    switchover.assert_not_called()


def test_rolling_restart_on_a_replica_changes_nothing():
    cluster = mock.Mock()
    wire_all(False, **{"patroni.is_leader": lambda: False, "patroni.cluster": cluster})
    assert (
        states.rolling_restarted("pg-test")["comment"]
        == "pg-test: this member is not the leader; the leader applies it"
    )
    cluster.assert_not_called()


def test_a_restart_still_pending_after_the_roll_is_a_failure_that_says_why():
    wire_all(
        False,
        **{
            "patroni.is_leader": lambda: True,
            "patroni.cluster": lambda: streaming("pg-test-1"),
            "patroni.restart_member": mock.Mock(return_value={"restarted": True}),
        },
    )
    ret = states.rolling_restarted("pg-test", timeout=5)
    assert ret["result"] is False
    assert ret["changes"] == {"pg-test-1": {"old": "pending restart", "new": "restarted"}}
    assert ret["comment"].startswith(
        "pg-test: restarted pg-test-1, replicas first, but a restart is still pending on pg-test-1"
    )


def test_a_member_that_flags_its_restart_late_gets_another_round():
    restarted: list[str] = []
    reads = {"n": 0}

    def cluster() -> dict[str, Any]:
        reads["n"] += 1
        flagged = ["pg-test-1"] if reads["n"] == 1 else ["pg-test-1", "pg-test-3"]
        return streaming(*[m for m in flagged if m not in restarted])

    def restart(name: str, timeout: float) -> dict[str, bool]:
        restarted.append(name)
        return {"restarted": True}

    wire_all(
        False,
        **{"patroni.is_leader": lambda: True, "patroni.cluster": cluster, "patroni.restart_member": restart},
    )
    ret = states.rolling_restarted("pg-test", timeout=5)
    assert restarted == ["pg-test-1", "pg-test-3"]
    assert (ret["result"], ret["comment"]) == (True, "pg-test: restarted pg-test-1, pg-test-3, replicas first")


def test_config_reload_only_settings_wait_settle_not_flags():
    cluster = mock.Mock()
    wire_dcs({"postgresql": {"parameters": {"work_mem": "4MB"}}}, cluster, [])
    ret = states.config_applied("pg-test", {"postgresql": {"parameters": {"work_mem": "8MB"}}})
    assert (ret["result"], ret["comment"]) == (True, "pg-test: PATCH /config: postgresql.parameters.work_mem")
    cluster.assert_not_called()


def test_config_says_which_members_never_flagged_the_restart():
    down = {"leader": "pg-test-1", "members": [{"name": "pg-test-1", "pending_restart": True}, {"name": "pg-test-2"}]}
    stored = {"postgresql": {"parameters": {"max_connections": 100}}}
    wire_dcs(stored, mock.Mock(return_value=down), ["max_connections"])
    ret = states.config_applied("pg-test", {"postgresql": {"parameters": {"max_connections": 150}}}, flag_timeout=0)
    assert ret["result"] is True
    assert ret["comment"].endswith("max_connections take a restart: not flagged after 0 s on pg-test-2")


# --- restapi_tls: a Patroni still serving its REST API in clear is reloaded -------------------

HTTPS = {"scheme": "https", "error": None}
CLEAR = {"scheme": "http", "error": "GET https://10.10.10.11:8008/patroni: [SSL] record layer failure"}
SILENT = {"scheme": None, "error": "GET https://10.10.10.11:8008/patroni: connection refused"}


def wire_api(test: bool, *answers: dict[str, Any]) -> mock.Mock:
    reload = mock.Mock(return_value=True)
    states.__salt__ = {"patroni.api_scheme": mock.Mock(side_effect=list(answers)), "service.reload": reload}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return reload


def test_restapi_over_tls_already_changes_nothing():
    reload = wire_api(False, HTTPS)
    assert states.restapi_tls("pg-test-1") == {
        "name": "pg-test-1",
        "changes": {},
        "result": True,
        "comment": "Patroni's REST API answers over TLS",
    }
    reload.assert_not_called()


def test_restapi_in_clear_is_reloaded_until_it_answers_over_tls():
    reload = wire_api(False, CLEAR, CLEAR, HTTPS)
    ret = states.restapi_tls("pg-test-1", timeout=5, interval=0)
    assert (ret["result"], ret["changes"]) == (True, {"restapi": {"old": "http", "new": "https"}})
    assert ret["comment"].startswith("Patroni reloaded: its REST API answers over TLS after ")
    reload.assert_called_once_with("patroni")


def test_restapi_in_clear_under_test_says_what_it_would_do():
    reload = wire_api(True, CLEAR)
    ret = states.restapi_tls("pg-test-1")
    assert ret == {
        "name": "pg-test-1",
        "changes": {"restapi": {"old": "http", "new": "https"}},
        "result": None,
        "comment": "Patroni's REST API answers in clear: it would be reloaded to serve TLS",
    }
    reload.assert_not_called()


def test_a_patroni_that_does_not_answer_is_left_alone():
    reload = wire_api(False, SILENT)
    ret = states.restapi_tls("pg-test-1")
    assert (ret["result"], ret["changes"]) == (True, {})
    assert ret["comment"] == f"Patroni does not answer (it starts with TLS): {SILENT['error']}"
    reload.assert_not_called()


def test_a_reload_that_does_not_bring_tls_fails_with_the_last_error():
    wire_api(False, CLEAR, *([CLEAR] * 50))
    ret = states.restapi_tls("pg-test-1", timeout=0.05, interval=0.01)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"] == (
        "Patroni was reloaded but its REST API does not answer over TLS after 0.05 s "
        f"(answers: http; last error: {CLEAR['error']})"
    )


# --- installed ---------------------------------------------------------------------------------

INSTALL = {
    "version": "4.1.5",
    "requirements": ["patroni[etcd3]==4.1.5", "psycopg[binary]"],
    "repo": "http://repo.pigsty/pypi",
    "keyring": "/etc/apt/keyrings/pigsalt-archive-keyring.gpg",
}


def _dist_info(venv: Path, version: str) -> None:
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "bin" / "python").touch()
    (venv / "lib" / "python3.13" / "site-packages" / f"patroni-{version}.dist-info").mkdir(parents=True)


def wire_run(test: bool, effect: Any) -> mock.Mock:
    run = mock.Mock(side_effect=effect)
    states.__salt__ = {"cmd.run_all": run}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return run


def test_installed_patroni_of_that_version_changes_nothing_and_runs_nothing(tmp_path: Path):
    _dist_info(tmp_path / "venv", "4.1.5")
    run = wire_run(False, AssertionError("nothing to run"))
    assert states.installed(str(tmp_path / "venv"), **INSTALL) == {
        "name": str(tmp_path / "venv"),
        "changes": {},
        "result": True,
        "comment": f"Patroni 4.1.5 is installed in {tmp_path / 'venv'}",
    }
    run.assert_not_called()


def test_installed_in_test_mode_says_what_would_change_and_runs_nothing(tmp_path: Path):
    _dist_info(tmp_path / "venv", "4.1.4")
    run = wire_run(True, AssertionError("nothing to run"))
    assert states.installed(str(tmp_path / "venv"), **INSTALL) == {
        "name": str(tmp_path / "venv"),
        "changes": {"patroni": {"old": "4.1.4", "new": "4.1.5"}},
        "result": None,
        "comment": f"Patroni 4.1.5 would be installed in {tmp_path / 'venv'}",
    }
    run.assert_not_called()


def test_installed_makes_the_venv_then_installs_through_the_signed_wheelhouse(tmp_path: Path):
    venv = tmp_path / "venv"

    def effect(argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert kwargs["python_shell"] is False
        if argv[1:3] == ["-m", "venv"]:
            (venv / "bin").mkdir(parents=True)
            (venv / "bin" / "python").touch()
        else:
            (venv / "lib" / "python3.13" / "site-packages" / "patroni-4.1.5.dist-info").mkdir(parents=True)
        return {"retcode": 0, "stdout": "", "stderr": ""}

    run = wire_run(False, effect)
    ret = states.installed(str(venv), **INSTALL)
    assert ret == {
        "name": str(venv),
        "changes": {"patroni": {"old": None, "new": "4.1.5"}},
        "result": True,
        "comment": f"Patroni 4.1.5 installed in {venv}",
    }
    venv_argv, wheels_argv = (c.args[0] for c in run.call_args_list)
    assert venv_argv == ["python3", "-m", "venv", "--without-pip", str(venv)]
    assert wheels_argv[1:] == [
        "-m", "pigsalt.agent.wheels", "--repo", INSTALL["repo"], "--keyring", INSTALL["keyring"],
        "--python", str(venv / "bin" / "python"), *INSTALL["requirements"],
    ]  # fmt: skip


def test_installed_fails_with_the_installers_last_line_and_no_changes(tmp_path: Path):
    _dist_info(tmp_path / "venv", "4.1.4")
    wire_run(False, lambda argv, **kw: {"retcode": 2, "stdout": "", "stderr": "x\nwheels: SHA256SUMS: bad signature\n"})
    assert states.installed(str(tmp_path / "venv"), **INSTALL) == {
        "name": str(tmp_path / "venv"),
        "changes": {},
        "result": False,
        "comment": "pigsalt.agent.wheels: wheels: SHA256SUMS: bad signature",
    }


def test_installed_fails_when_the_version_is_still_not_there(tmp_path: Path):
    _dist_info(tmp_path / "venv", "4.1.4")
    wire_run(False, lambda argv, **kw: {"retcode": 0, "stdout": "", "stderr": ""})
    ret = states.installed(str(tmp_path / "venv"), **INSTALL)
    assert (ret["result"], ret["comment"]) == (
        False,
        f"{tmp_path / 'venv'} holds Patroni 4.1.4 after the install, not 4.1.5",
    )
