"""The ``pigsalt_pki`` and ``pigsalt_etcd`` states with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from salt.exceptions import SaltInvocationError

from pigsalt.agent import AgentError
from tests.conftest import ROOT


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "_states" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pki = load("pigsalt_pki")
etcd = load("pigsalt_etcd")


def wire(module: ModuleType, test: bool, **functions: Any) -> None:
    module.__salt__ = {k.replace("_", ".", 1): v for k, v in functions.items()}  # type: ignore[attr-defined]
    module.__opts__ = {"test": test, "id": "node-1"}  # type: ignore[attr-defined]


def test_an_entry_the_mine_holds_is_not_sent_again() -> None:
    send = mock.Mock()
    wire(pki, False, mine_get=mock.Mock(return_value={"node-1": "KEY"}), mine_send=send)
    assert pki.mine_present("pubkey", "x509.get_public_key", key="/k") == {
        "name": "pubkey", "changes": {}, "result": True, "comment": "the mine holds pubkey of node-1",
    }  # fmt: skip
    send.assert_not_called()


def test_an_entry_the_mine_lost_is_sent_with_the_functions_arguments() -> None:
    send = mock.Mock(return_value=True)
    wire(pki, False, mine_get=mock.Mock(return_value={}), mine_send=send)
    ret = pki.mine_present("pubkey", "x509.get_public_key", key="/k", __id__="x", __sls__="pki.key")
    assert ret == {
        "name": "pubkey",
        "changes": {"mine": {"old": None, "new": "pubkey"}},
        "result": True,
        "comment": "pubkey sent to the mine",
    }
    send.assert_called_once_with("pubkey", mine_function="x509.get_public_key", key="/k")


@pytest.mark.parametrize(("test", "sent", "result"), [(True, None, None), (False, False, False)])
def test_a_lost_entry_in_test_mode_or_a_failed_send(test: bool, sent: bool | None, result: bool | None) -> None:
    send = mock.Mock(return_value=sent)
    wire(pki, test, mine_get=mock.Mock(return_value={}), mine_send=send)
    assert pki.mine_present("ca", "file.read", path="/ca.crt")["result"] is result
    assert send.called is (not test)


def test_a_certificate_of_its_key_passes() -> None:
    wire(pki, False, x509_verify_private_key=mock.Mock(return_value=True))
    assert pki.certificate_matches_key("/n.crt", "/n.key") == {
        "name": "/n.crt", "changes": {}, "result": True, "comment": "/n.crt belongs to /n.key",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "comment"),
    [
        (False, "/n.crt does not belong to /n.key: run pki.sign on meta"),
        (SaltInvocationError("no such file"), "/n.crt does not belong to /n.key: no such file: run pki.sign on meta"),
    ],
)
def test_a_certificate_of_another_key_fails_with_the_hint(answer: Any, comment: str) -> None:
    wire(pki, True, x509_verify_private_key=mock.Mock(side_effect=[answer]))
    assert pki.certificate_matches_key("/n.crt", "/n.key", hint="run pki.sign on meta") == {
        "name": "/n.crt", "changes": {}, "result": False, "comment": comment,
    }  # fmt: skip


def test_etcd_rbac_up_to_date_applies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(etcd.etcd_auth, "load", lambda path: ("etcd", "root-pw", []))
    monkeypatch.setattr(etcd.etcd_auth, "converge", lambda e, pw, users, check: calls.append(check) or [])
    wire(etcd, False)
    assert etcd.auth_applied("/etc/etcd/pigsalt-auth.json") == {
        "name": "/etc/etcd/pigsalt-auth.json", "changes": {}, "result": True, "comment": "etcd RBAC up to date",
    }  # fmt: skip
    assert calls == [True]


def test_etcd_rbac_that_differs_is_applied_and_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pending = iter([["add user pg-test"], ["add user pg-test"], []])
    calls: list[bool] = []

    def converge(e: Any, pw: str, users: Any, check: bool) -> list[str]:
        calls.append(check)
        return next(pending)

    monkeypatch.setattr(etcd.etcd_auth, "load", lambda path: ("etcd", "root-pw", []))
    monkeypatch.setattr(etcd.etcd_auth, "converge", converge)
    wire(etcd, False)
    assert etcd.auth_applied("/x.json") == {
        "name": "/x.json",
        "changes": {"rbac": {"old": None, "new": ["add user pg-test"]}},
        "result": True,
        "comment": "add user pg-test",
    }
    assert calls == [True, False, True]


def test_etcd_rbac_in_test_mode_or_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(etcd.etcd_auth, "load", lambda path: ("etcd", "root-pw", []))
    monkeypatch.setattr(etcd.etcd_auth, "converge", lambda e, pw, users, check: ["enable auth"] if check else 1 / 0)
    wire(etcd, True)
    assert etcd.auth_applied("/x.json")["result"] is None

    def refuse(path: Path) -> Any:
        raise AgentError("/x.json: no such file")

    monkeypatch.setattr(etcd.etcd_auth, "load", refuse)
    assert etcd.auth_applied("/x.json") == {
        "name": "/x.json", "changes": {}, "result": False, "comment": "/x.json: no such file",
    }  # fmt: skip
