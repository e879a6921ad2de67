"""The ``haproxy`` execution module, its pillar pointing at a fake runtime API socket: whole return values."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.conftest import ROOT
from tests.unit.test_agent_haproxy import FakeHAProxy, sockdir  # noqa: F401  (sockdir is a fixture)


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("haproxy_module", ROOT / "_modules" / "haproxy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mod = load()


def pillar(admin_socket: str | None) -> dict[str, Any]:
    haproxy: dict[str, Any] = {"enabled": True, "admin_port": 9101, "admin_username": "admin"}
    if admin_socket is not None:
        haproxy["admin_socket"] = admin_socket
    return {"pigsty": {"node": {"ip": "10.10.10.11"}, "pg": {"instance": "pg-test-1", "haproxy": haproxy}}}


@pytest.fixture
def haproxy(sockdir: Path) -> Iterator[FakeHAProxy]:  # noqa: F811
    fake = FakeHAProxy(str(sockdir / "admin.sock"))
    mod.__pillar__ = pillar(fake.path)  # type: ignore[attr-defined]
    yield fake
    fake.close()


def test_virtual(monkeypatch: pytest.MonkeyPatch):
    assert mod.__virtual__() == "haproxy"
    monkeypatch.setitem(sys.modules, "pigsalt.agent", None)
    assert load().__virtual__() == (
        False,
        "the pigsalt package is not importable in the minion's Python: "
        "import of pigsalt.agent halted; None in sys.modules",
    )


def test_servers(haproxy: FakeHAProxy):
    assert mod.servers(backend="pg-test-primary") == [
        {
            "backend": "pg-test-primary",
            "server": "pg-test-1",
            "status": "UP",
            "weight": 100,
            "current_sessions": 3,
            "check_status": "L7OK",
        },
        {
            "backend": "pg-test-primary",
            "server": "pg-test-2",
            "status": "DOWN",
            "weight": 100,
            "current_sessions": 0,
            "check_status": "L7STS",
        },
    ]
    assert [(s["backend"], s["server"]) for s in mod.servers()] == [
        ("pg-test-primary", "pg-test-1"),
        ("pg-test-primary", "pg-test-2"),
        ("pg-test-replica", "pg-test-1"),
        ("pg-test-replica", "pg-test-2"),
    ]


@pytest.mark.parametrize(
    ("function", "state", "status"),
    [("drain_server", "drain", "DRAIN"), ("disable_server", "maint", "MAINT"), ("enable_server", "ready", "UP")],
)
def test_set_server_state(haproxy: FakeHAProxy, function: str, state: str, status: str):
    assert getattr(mod, function)("pg-test-replica", "pg-test-2") == {
        "backend": "pg-test-replica",
        "server": "pg-test-2",
        "state": state,
        "status": status,
    }
    assert haproxy.commands == [f"set server pg-test-replica/pg-test-2 state {state}", "show stat"]


def test_unknown_server_is_an_error(haproxy: FakeHAProxy):
    with pytest.raises(CommandExecutionError) as caught:
        mod.disable_server("pg-test-replica", "pg-test-9")
    assert str(caught.value) == (
        f"HAProxy {haproxy.path}: 'set server pg-test-replica/pg-test-9 state maint': No such server."
    )
    with pytest.raises(CommandExecutionError) as caught:
        mod.servers("pg-test-offline")
    assert str(caught.value) == f"HAProxy {haproxy.path}: no backend pg-test-offline"


def test_default_socket_path():
    mod.__pillar__ = pillar(None)  # type: ignore[attr-defined]
    assert mod._socket() == "/run/haproxy/admin.sock"


def test_no_haproxy_running(sockdir: Path):  # noqa: F811
    path = str(sockdir / "admin.sock")
    mod.__pillar__ = pillar(path)  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError) as caught:
        mod.servers()
    assert str(caught.value) == (
        f"HAProxy {path}: 'show stat': no such socket (is HAProxy running, with a stats socket there?)"
    )


def test_no_postgres_on_this_node():
    mod.__pillar__ = {"pigsty": {"node": {"ip": "10.10.10.10"}}}  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError, match=r"^this node holds no Postgres instance$"):
        mod.servers()
