"""Key acceptance by fingerprint and parsing Salt's JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import salt.utils.crypt

from pigsalt.errors import PigsaltError
from pigsalt.master import pem_finger
from pigsalt.sandbox.salt import (
    KeyDecision,
    decide_keys,
    master_setup_argv,
    parse_fingerprints,
    parse_json_output,
    parse_local_finger,
    parse_ping,
)

FP1 = "aa:bb"
FP2 = "cc:dd"


def test_matching_pending_key_is_accepted() -> None:
    master = {"minions_pre": {"node-1": FP1}, "minions": {}}
    assert decide_keys(["node-1"], {"node-1": FP1}, master) == KeyDecision(accept=("node-1",))


def test_mismatching_key_is_never_accepted() -> None:
    master = {"minions_pre": {"node-1": FP1}}
    assert decide_keys(["node-1"], {"node-1": FP2}, master) == KeyDecision(mismatched={"node-1": (FP1, FP2)})


def test_already_accepted_key_is_checked_too() -> None:
    master = {"minions": {"meta": FP1, "node-1": FP1}}
    assert decide_keys(["meta", "node-1"], {"meta": FP1, "node-1": FP2}, master) == KeyDecision(
        accepted=("meta",), mismatched={"node-1": (FP1, FP2)}
    )


def test_missing_key_on_either_side() -> None:
    master = {"minions_pre": {"node-1": FP1}}
    assert decide_keys(["node-1", "node-2"], {"node-2": FP1}, master) == KeyDecision(missing=("node-1", "node-2"))


PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsT8IZXkcLSJhLLMFU+Ul\n"
    "0wIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
)


def test_pem_finger_is_what_key_finger_prints_on_the_node(tmp_path: Path) -> None:
    # The node's file ends with a newline; the master stores the text without it.
    (tmp_path / "minion.pub").write_text(PEM)
    expected = salt.utils.crypt.pem_finger(str(tmp_path / "minion.pub"), sum_type="sha256")
    assert pem_finger(PEM) == expected
    assert pem_finger(PEM.rstrip("\n")) == expected
    # salt-key -f hashes the whole stored text instead (saltstack/salt#69970).
    assert salt.utils.crypt.pem_finger(key=PEM.rstrip("\n").encode(), sum_type="sha256") != expected


def test_parse_fingerprints_from_printed_keys() -> None:
    text = json.dumps({"local": {"master.pub": PEM}, "minions_pre": {"node-1": PEM.rstrip("\n")}})
    assert parse_fingerprints(text) == {"minions_pre": {"node-1": pem_finger(PEM)}}


def test_parse_json_output_merges_one_object_per_line() -> None:
    assert parse_json_output('{"a": true}\n{"b": false}\n') == {"a": True, "b": False}
    assert parse_json_output("") == {}


def test_parse_local_finger() -> None:
    assert parse_local_finger('{"local": "aa:bb"}') == "aa:bb"
    with pytest.raises(PigsaltError, match="no key fingerprint"):
        parse_local_finger('{"local": ""}')


def test_parse_ping_counts_only_true() -> None:
    text = '{"meta": true, "node-1": "Minion did not return. [No response]", "node-2": true}'
    assert parse_ping(text) == {"meta", "node-2"}


def test_master_setup_is_the_user_command() -> None:
    assert master_setup_argv() == [
        "/opt/pigsalt/salt/bin/pigsalt",
        "master",
        "setup",
        "--project",
        "/srv/pigsalt/project",
        "--inventory",
        "/srv/pigsalt/inventory",
        "--worker-threads",
        "2",
    ]
