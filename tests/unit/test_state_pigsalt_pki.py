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


# --- certificate_managed: the quick path beside x509's ------------------------------------------


@pytest.fixture
def issued(tmp_path: Path) -> dict[str, Any]:
    """A CA and a node certificate issued by Salt's own builder, as pki.sign asks for them, and
    the state's arguments that describe it."""
    import getpass
    import grp as grp_module
    import os

    import salt.utils.x509 as x509util
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def pem_key(path: Path) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return key

    ca_key, node_key = tmp_path / "ca.key", tmp_path / "node.key"
    pem_key(ca_key)
    node_public = (
        pem_key(node_key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    ca_args = {
        "CN": "pigsalt CA",
        "basicConstraints": "critical, CA:TRUE",
        "keyUsage": "critical, cRLSign, keyCertSign",
        "subjectKeyIdentifier": "hash",
    }
    builder, signer, _, _ = x509util.build_crt(str(ca_key), days_valid=3650, **ca_args)
    ca_crt = tmp_path / "ca.crt"
    ca_crt.write_bytes(builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    user, group = getpass.getuser(), grp_module.getgrgid(os.getgid()).gr_name
    args = {
        "signing_private_key": str(ca_key),
        "signing_cert": str(ca_crt),
        "public_key": node_public,
        "subject": {"CN": "node-1"},
        "subjectAltName": "DNS:node-1, IP:10.10.10.11",
        "basicConstraints": "critical, CA:FALSE",
        "keyUsage": "critical, digitalSignature, keyEncipherment",
        "extendedKeyUsage": "serverAuth, clientAuth",
        "subjectKeyIdentifier": "hash",
        "authorityKeyIdentifier": "keyid:always",
        "days_valid": 365,
        "days_remaining": 30,
        "mode": "0644",
        "user": user,
        "group": group,
    }
    file_args = {"mode", "user", "group", "days_remaining"}
    builder, signer, _, _ = x509util.build_crt(**{k: v for k, v in args.items() if k not in file_args})
    crt = tmp_path / "node-1.crt"
    crt.write_bytes(builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    crt.chmod(0o644)
    return {"crt": crt, "args": args}


def x509_state(pki_module: ModuleType) -> mock.Mock:
    delegated = mock.Mock(return_value={"name": "x", "changes": {"replaced": "x"}, "result": True, "comment": "x509"})
    pki_module.__states__ = {"x509.certificate_managed": delegated}  # type: ignore[attr-defined]
    return delegated


def test_a_certificate_in_place_is_told_without_x509s_file_run(issued: dict[str, Any]) -> None:
    for test in (True, False):
        pki.__salt__ = {"x509.get_signing_policy": lambda policy, ca_server=None: {}}  # type: ignore[attr-defined]
        pki.__opts__ = {"test": test, "id": "meta"}  # type: ignore[attr-defined]
        delegated = x509_state(pki)
        name = str(issued["crt"])
        assert pki.certificate_managed(name, **issued["args"], __id__="pki-issued") == {
            "name": name, "changes": {}, "result": True, "comment": "The certificate is in the correct state",
        }  # fmt: skip
        delegated.assert_not_called()


@pytest.mark.parametrize(
    "change",
    [
        {"subject": {"CN": "node-2"}},
        {"subjectAltName": "DNS:node-1, IP:10.10.10.12"},
        {"extendedKeyUsage": "serverAuth"},
        {"days_remaining": 400},  # fewer days left than asked: renew
        {"mode": "0600"},
        {"user": "nobody-such-user"},
        {"days_remaining": None},  # Salt's own default: x509 decides
        {"makedirs": True},  # a file argument the quick path does not check
        {"encoding": "der"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_anything_else_is_x509s_to_do(issued: dict[str, Any], change: dict[str, Any]) -> None:
    pki.__salt__ = {"x509.get_signing_policy": lambda policy, ca_server=None: {}}  # type: ignore[attr-defined]
    pki.__opts__ = {"test": True, "id": "meta"}  # type: ignore[attr-defined]
    delegated = x509_state(pki)
    name = str(issued["crt"])
    args = {**issued["args"], **change}
    assert pki.certificate_managed(name, **args)["comment"] == "x509"
    delegated.assert_called_once_with(name, **args)


def test_a_missing_or_linked_certificate_is_x509s_to_do(issued: dict[str, Any], tmp_path: Path) -> None:
    pki.__salt__ = {"x509.get_signing_policy": lambda policy, ca_server=None: {}}  # type: ignore[attr-defined]
    pki.__opts__ = {"test": True, "id": "meta"}  # type: ignore[attr-defined]
    link = tmp_path / "link.crt"
    link.symlink_to(issued["crt"])
    for name in (str(tmp_path / "absent.crt"), str(link)):
        delegated = x509_state(pki)
        assert pki.certificate_managed(name, **issued["args"])["comment"] == "x509"
        delegated.assert_called_once()


@pytest.fixture
def key(tmp_path: Path) -> dict[str, Any]:
    """An EC P-256 key in PEM, mode 0640, and the arguments pki.key gives for it."""
    import getpass
    import grp as grp_module
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "node.key"
    private = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o640)
    group = grp_module.getgrgid(os.getgid()).gr_name
    return {
        "path": path,
        "args": {"algo": "ec", "keysize": 256, "user": getpass.getuser(), "group": group, "mode": "0640"},
    }


def x509_key_state(pki_module: ModuleType) -> mock.Mock:
    delegated = mock.Mock(return_value={"name": "x", "changes": {"created": "x"}, "result": True, "comment": "x509"})
    pki_module.__states__ = {"x509.private_key_managed": delegated}  # type: ignore[attr-defined]
    return delegated


def test_a_key_in_place_is_told_without_x509s_file_run(key: dict[str, Any]) -> None:
    delegated = x509_key_state(pki)
    name = str(key["path"])
    assert pki.private_key_managed(name, **key["args"]) == {
        "name": name, "changes": {}, "result": True, "comment": "The private key is in the correct state",
    }  # fmt: skip
    delegated.assert_not_called()


@pytest.mark.parametrize(
    "change",
    [{"keysize": 384}, {"algo": "rsa"}, {"algo": "ed25519"}, {"mode": "0600"}, {"passphrase": "x"}, {"new": True}],
    ids=lambda change: f"{next(iter(change))}={next(iter(change.values()))}",
)
def test_any_other_key_is_x509s_to_do(key: dict[str, Any], change: dict[str, Any]) -> None:
    delegated = x509_key_state(pki)
    name = str(key["path"])
    args = {**key["args"], **change}
    assert pki.private_key_managed(name, **args)["comment"] == "x509"
    delegated.assert_called_once()


def test_without_a_mode_x509s_default_0400_is_what_is_checked(key: dict[str, Any], tmp_path: Path) -> None:
    delegated = x509_key_state(pki)
    args = {k: v for k, v in key["args"].items() if k != "mode"}
    assert pki.private_key_managed(str(key["path"]), **args)["comment"] == "x509"  # 0640 is not 0400
    key["path"].chmod(0o400)
    assert pki.private_key_managed(str(key["path"]), **args)["comment"] == "The private key is in the correct state"
    assert pki.private_key_managed(str(tmp_path / "absent.key"), **args)["comment"] == "x509"
    assert delegated.call_count == 2
