"""pigsalt.upgrade (the CLI side of `pigsalt upgrade`): finding the successor, reading Salt's answers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pytest

from pigsalt import upgrade
from pigsalt.errors import PigsaltError

ITEMS = {
    "node-4": {"pigsty:pg:cluster": "pg-deb12", "pigsty:pg:version": 15, "pigsty:pg:upgrade_from": None},
    "node-5": {"pigsty:pg:cluster": "pg-deb12", "pigsty:pg:version": 15, "pigsty:pg:upgrade_from": None},
    "node-6": {"pigsty:pg:cluster": "pg-deb13", "pigsty:pg:version": 17, "pigsty:pg:upgrade_from": "pg-deb12"},
    "node-7": {"pigsty:pg:cluster": "pg-deb13", "pigsty:pg:version": 17, "pigsty:pg:upgrade_from": "pg-deb12"},
}


def _runner(items: dict[str, object], leaders: dict[str, object]) -> upgrade.Runner:
    def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        if "pillar.item" in argv:
            return 0, json.dumps(items), ""
        if "patroni.is_leader" in argv:
            return 0, json.dumps(leaders), ""
        return 1, "", f"unexpected {argv}"

    return run


def test_the_successor_and_its_leader_are_found() -> None:
    pair = upgrade.find_pair(_runner(ITEMS, {"node-6": False, "node-7": True}), "pg-deb12", 17)
    assert pair.successor == "pg-deb13"
    assert pair.successor_leader == "node-7"
    assert pair.source_minions == ("node-4", "node-5")
    assert pair.successor_minions == ("node-6", "node-7")


@pytest.mark.parametrize(
    ("source", "version", "leaders", "needle"),
    [
        ("pg-nope", 17, {"node-6": True}, "cluster 'pg-nope' has no node answering"),
        ("pg-deb13", 18, {"node-6": True}, "no cluster declares pg_upgrade_from: pg-deb13"),
        ("pg-deb12", 16, {"node-6": True}, "--to 16: the successor pg-deb13 runs PostgreSQL 17"),
        ("pg-deb12", 17, {"node-6": False, "node-7": False}, "has no single leader"),
    ],
)
def test_each_wrong_request_is_one_clear_error(
    source: str, version: int, leaders: dict[str, object], needle: str
) -> None:
    with pytest.raises(PigsaltError, match=re.escape(needle)):
        upgrade.find_pair(_runner(ITEMS, leaders), source, version)


def test_a_salt_error_string_becomes_an_error_naming_the_function_and_minion() -> None:
    pair = upgrade.Pair("a", "b", 17, "node-6", ("node-4",), ("node-6",))

    def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        return 1, json.dumps({"node-6": "ERROR: cutover: no primary among the members of a"}), ""

    with pytest.raises(PigsaltError, match=re.escape("pgupgrade.cutover on node-6: ERROR: cutover: no primary")):
        upgrade.call(run, pair, "cutover")
