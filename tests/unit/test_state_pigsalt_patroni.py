"""The ``pigsalt_patroni`` states with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from typing import Any
from unittest import mock

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
