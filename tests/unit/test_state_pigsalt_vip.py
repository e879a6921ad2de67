"""The ``pigsalt_vip`` state with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from unittest import mock

from salt.exceptions import CommandExecutionError

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_vip", ROOT / "_states" / "pigsalt_vip.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)


def test_the_interface_found_is_success_without_changes():
    lookup = mock.Mock(return_value="host0")
    states.__salt__ = {"pigsalt.vip_interface": lookup}  # type: ignore[attr-defined]
    assert states.interface("10.10.10.3/24", member_ip="10.10.10.11") == {
        "name": "10.10.10.3/24",
        "changes": {},
        "result": True,
        "comment": "VIP 10.10.10.3/24 goes on host0",
    }
    lookup.assert_called_once_with("10.10.10.11", None)


def test_a_missing_interface_fails_naming_what_the_node_has():
    message = "VIP on pg-test-1: interface 'eth0' does not exist on this node (it has: host0, lo)"
    lookup = mock.Mock(side_effect=CommandExecutionError(message))
    states.__salt__ = {"pigsalt.vip_interface": lookup}  # type: ignore[attr-defined]
    assert states.interface("10.10.10.3/24", member_ip="10.10.10.11", wanted="eth0") == {
        "name": "10.10.10.3/24",
        "changes": {},
        "result": False,
        "comment": message,
    }
