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


def config(tmp_path: Path, tls: bool) -> str:
    """An haproxy.cfg whose two service backends check Patroni over TLS or in clear."""
    ssl = " check-ssl verify required ca-file /etc/pki/pigsalt/ca.crt verifyhost {name}" if tls else ""
    text = ["global", "    stats socket /run/haproxy/admin.sock", "", "listen admin", "    bind :9101"]
    for backend, uri in (("pg-test-primary", "/primary"), ("pg-test-replica", "/replica")):
        text += [f"backend {backend}", "    option httpchk", f"    http-check send meth OPTIONS uri {uri}"]
        for n in (1, 2):
            name = f"pg-test-{n}"
            text.append(f"    server {name} 10.10.10.1{n}:6432 check port 8008{ssl.format(name=name)} weight 100")
    path = tmp_path / "haproxy.cfg"
    path.write_text("\n".join(text) + "\n")
    return str(path)


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """``service.status`` as the module sees it: haproxy runs unless a test says otherwise."""
    running = {"haproxy": True}
    monkeypatch.setattr(mod, "__salt__", {"service.status": lambda name: running[name]}, raising=False)
    return running


def test_hold_clear_checks_stops_the_checks_of_up_servers_only(
    haproxy: FakeHAProxy, tmp_path: Path, service: dict[str, bool]
):
    assert mod.hold_clear_checks(config=config(tmp_path, tls=False)) == {
        "held": ["pg-test-primary/pg-test-1", "pg-test-replica/pg-test-1", "pg-test-replica/pg-test-2"],
        "comment": "health checks in clear held",
    }
    # pg-test-2 is DOWN behind the primary's port: unchecked, HAProxy would take it as UP.
    assert haproxy.unchecked == {
        ("pg-test-primary", "pg-test-1"),
        ("pg-test-replica", "pg-test-1"),
        ("pg-test-replica", "pg-test-2"),
    }
    assert mod.resume_checks(config=config(tmp_path, tls=True)) == {
        "resumed": [
            "pg-test-primary/pg-test-1",
            "pg-test-primary/pg-test-2",
            "pg-test-replica/pg-test-1",
            "pg-test-replica/pg-test-2",
        ],
        "comment": "health checks on",
    }
    assert haproxy.unchecked == set()


def test_hold_clear_checks_leaves_tls_checks_alone(haproxy: FakeHAProxy, tmp_path: Path, service: dict[str, bool]):
    assert mod.hold_clear_checks(config=config(tmp_path, tls=True)) == {
        "held": [],
        "comment": "no health check in clear",
    }
    assert mod.hold_clear_checks(config=str(tmp_path / "absent.cfg"))["held"] == []
    assert haproxy.commands == []


def test_hold_and_resume_without_haproxy_running(sockdir: Path, tmp_path: Path, service: dict[str, bool]):  # noqa: F811
    mod.__pillar__ = pillar(str(sockdir / "admin.sock"))  # type: ignore[attr-defined]
    service["haproxy"] = False
    assert mod.hold_clear_checks(config=config(tmp_path, tls=False)) == {"held": [], "comment": "HAProxy does not run"}
    assert mod.resume_checks(config=config(tmp_path, tls=True)) == {"resumed": [], "comment": "HAProxy does not run"}
    service["haproxy"] = True  # running, yet its socket is not there: that is an error
    with pytest.raises(CommandExecutionError, match=r"'show stat': no such socket"):
        mod.hold_clear_checks(config=config(tmp_path, tls=False))
