"""The ``patroni`` execution module, its pillar pointing at a fake Patroni on loopback: whole return values."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.certs import CertFiles, make_certs
from tests.conftest import ROOT
from tests.unit.test_agent_patroni import (
    CLUSTER,
    CONFIG,
    PASSWORD,
    PATRONI,
    USERNAME,
    FakePatroni,
    auth_header,
    cluster_with,
    free_port,
)


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("patroni_module", ROOT / "_modules" / "patroni.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mod = load()


def pillar(port: int, pg: bool = True, ca: Path | None = None) -> dict[str, Any]:
    node = {"name": "pg-test-1", "ip": "127.0.0.1", "meta": False}
    tls = {"ca_cert": str(ca) if ca else "/nonexistent/ca.crt"}
    if not pg:
        return {"pigsty": {"node": node, "tls": tls}}
    patroni = {"port": port, "username": USERNAME, "password": PASSWORD, "ttl": 30, "loop_wait": 10}
    return {
        "pigsty": {
            "node": node,
            "tls": tls,
            "pg": {
                "cluster": "pg-test",
                "instance": "pg-test-1",
                "dbsu": "postgres",
                "patroni": patroni,
                "pgbouncer": {"port": 6432},
            },
        }
    }


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def fake(certs: CertFiles) -> Iterator[FakePatroni]:
    """Patroni's REST API over TLS, as pigsalt configures it: the module verifies the local CA."""
    server = FakePatroni(tls=certs)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    mod.__pillar__ = pillar(server.server_address[1], ca=certs.ca)  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


MEMBERS = [
    {
        "name": "pg-test-1",
        "role": "leader",
        "state": "running",
        "host": "10.10.10.11",
        "port": 5432,
        "lag": None,
        "timeline": 1,
        "pending_restart": False,
    },
    {
        "name": "pg-test-2",
        "role": "replica",
        "state": "streaming",
        "host": "10.10.10.12",
        "port": 5432,
        "lag": 0,
        "timeline": 1,
        "pending_restart": False,
    },
]


def test_virtual():
    assert mod.__virtual__() == "patroni"


def test_virtual_without_the_pigsalt_package(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pigsalt.agent", None)
    assert load().__virtual__() == (
        False,
        "the pigsalt package is not importable in the minion's Python: "
        "import of pigsalt.agent halted; None in sys.modules",
    )


def test_status(fake: FakePatroni):
    assert mod.status() == {
        "name": "pg-test-1",
        "role": "primary",
        "state": "running",
        "pending_restart": False,
        "timeline": 1,
        "postmaster_start_time": "2026-11-25 17:00:00.100000+00:00",
        "server_version": 150010,
    }
    assert mod.role() == "primary"
    assert mod.hba_role() == "primary"
    assert mod.pending_restart() is False
    assert fake.requests[0] == {"method": "GET", "path": "/patroni", "auth": None, "body": None}


@pytest.mark.parametrize(
    ("role", "hba"), [("replica", "replica"), ("standby_leader", "primary"), ("master", "primary")]
)
def test_role_and_hba_role(fake: FakePatroni, role: str, hba: str):
    fake.routes[("GET", "/patroni")] = (200, {**PATRONI, "role": role, "pending_restart": True})
    assert mod.role() == ("primary" if role == "master" else role)
    assert mod.hba_role() == hba
    assert mod.pending_restart() is True


def test_cluster_leader_members(fake: FakePatroni):
    assert mod.cluster() == {"leader": "pg-test-1", "members": MEMBERS}
    assert mod.leader() == "pg-test-1"
    assert mod.is_leader() is True
    assert mod.members() == MEMBERS


def test_not_the_leader_and_no_leader(fake: FakePatroni):
    fake.routes[("GET", "/cluster")] = (200, cluster_with(pg_test_1={"role": "replica", "state": "starting"}))
    assert mod.is_leader() is False
    assert mod.cluster()["leader"] is None
    with pytest.raises(CommandExecutionError, match=r"^the cluster has no leader$"):
        mod.leader()


def test_reload_and_restart(fake: FakePatroni):
    fake.routes[("POST", "/reload")] = (202, "reload scheduled")
    fake.routes[("POST", "/restart")] = (200, "restarted successfully")
    assert mod.reload() == {"reloaded": True}
    assert mod.restart() == {"restarted": True}
    assert fake.unsafe() == [
        {"method": "POST", "path": "/reload", "auth": auth_header(), "body": None},
        {"method": "POST", "path": "/restart", "auth": auth_header(), "body": {}},
    ]


def test_restart_pending_only_when_pending(fake: FakePatroni):
    fake.routes[("POST", "/restart")] = (200, "restarted successfully")
    assert mod.restart(pending=True) == {"restarted": False}
    assert fake.unsafe() == []
    fake.routes[("GET", "/patroni")] = (200, {**PATRONI, "pending_restart": True})
    assert mod.restart(pending=True) == {"restarted": True}
    assert fake.unsafe() == [
        {"method": "POST", "path": "/restart", "auth": auth_header(), "body": {"restart_pending": True}}
    ]


def test_restart_failure_is_an_error(fake: FakePatroni):
    fake.routes[("POST", "/restart")] = (503, "restart failed")
    with pytest.raises(CommandExecutionError) as caught:
        mod.restart()
    assert str(caught.value) == f"POST {fake.url}/restart: HTTP 503 Service Unavailable: restart failed"


def test_wrong_password_does_not_leak(fake: FakePatroni):
    mod.__pillar__["pigsty"]["pg"]["patroni"]["password"] = "Wrong-Secret-7"
    with pytest.raises(CommandExecutionError) as caught:
        mod.reload()
    assert str(caught.value) == f"POST {fake.url}/reload: HTTP 401 Unauthorized: not authenticated"
    assert "Wrong-Secret-7" not in str(caught.value)


def test_switchover_waits_for_the_new_leader(fake: FakePatroni):
    after = cluster_with(
        pg_test_1={"role": "replica", "state": "streaming", "lag": 0},
        pg_test_2={"role": "leader", "state": "running", "lag": None},
    )

    def switch(body: Any) -> tuple[int, str]:
        fake.routes[("GET", "/cluster")] = [
            (200, cluster_with(pg_test_1={"role": "replica", "state": "stopped"})),
            (200, after),
        ]
        return 200, 'Successfully switched over to "pg-test-2"'

    fake.routes[("POST", "/switchover")] = switch
    assert mod.switchover(candidate="pg-test-2", timeout=10) == {"old": "pg-test-1", "new": "pg-test-2"}
    assert fake.unsafe() == [
        {
            "method": "POST",
            "path": "/switchover",
            "auth": auth_header(),
            "body": {"leader": "pg-test-1", "candidate": "pg-test-2"},
        }
    ]


def test_switchover_patroni_picks(fake: FakePatroni):
    def switch(body: Any) -> tuple[int, str]:
        fake.routes[("GET", "/cluster")] = (
            200,
            cluster_with(pg_test_1={"role": "replica"}, pg_test_2={"role": "leader", "state": "running"}),
        )
        return 503, "Switchover status unknown"

    fake.routes[("POST", "/switchover")] = switch
    assert mod.switchover() == {"old": "pg-test-1", "new": "pg-test-2"}
    assert fake.unsafe()[0]["body"] == {"leader": "pg-test-1"}


def test_switchover_without_leader_or_refused(fake: FakePatroni):
    fake.routes[("GET", "/cluster")] = (200, cluster_with(pg_test_1={"role": "replica"}))
    with pytest.raises(CommandExecutionError, match=r"^the cluster has no leader to switch over from$"):
        mod.switchover()
    fake.routes[("GET", "/cluster")] = (200, CLUSTER)
    fake.routes[("POST", "/switchover")] = (412, "candidate does not exists")
    with pytest.raises(CommandExecutionError) as caught:
        mod.switchover(candidate="pg-test-9")
    assert str(caught.value) == f"POST {fake.url}/switchover: HTTP 412 Precondition Failed: candidate does not exists"


def test_switchover_times_out(fake: FakePatroni):
    fake.routes[("POST", "/switchover")] = (200, 'Successfully switched over to "pg-test-2"')
    with pytest.raises(CommandExecutionError) as caught:
        mod.switchover(candidate="pg-test-2", timeout=0.3)
    assert str(caught.value) == (
        "a running leader named pg-test-2 other than pg-test-1: "
        "not there after 0.3 s (last: leader pg-test-1 (running))"
    )


def test_config_and_patch_config(fake: FakePatroni):
    patched = {**CONFIG, "postgresql": {**CONFIG["postgresql"], "parameters": {"max_connections": 200}}}
    fake.routes[("PATCH", "/config")] = (200, patched)
    assert mod.config() == CONFIG
    changes = {"postgresql": {"parameters": {"max_connections": 200}}}
    assert mod.patch_config(changes) == patched
    assert fake.unsafe() == [{"method": "PATCH", "path": "/config", "auth": auth_header(), "body": changes}]
    with pytest.raises(CommandExecutionError, match=r"^changes must be a non-empty mapping$"):
        mod.patch_config("loop_wait: 5")


def test_a_missing_ca_certificate_is_one_line():
    mod.__pillar__ = pillar(free_port())  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError) as caught:
        mod.status()
    assert str(caught.value) == "/nonexistent/ca.crt: cannot load the CA certificate: no such file or directory"


def test_unreachable_patroni(certs: CertFiles):
    port = free_port()
    mod.__pillar__ = pillar(port, ca=certs.ca)  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError) as caught:
        mod.status()
    assert str(caught.value) == f"GET https://127.0.0.1:{port}/patroni: connection refused"


@pytest.mark.parametrize(
    "call",
    ["status", "role", "hba_role", "cluster", "leader", "is_leader", "members", "pending_restart", "reload", "config"],
)
def test_no_postgres_on_this_node(call: str):
    mod.__pillar__ = pillar(1, pg=False)  # type: ignore[attr-defined]
    with pytest.raises(CommandExecutionError, match=r"^this node holds no Postgres instance$"):
        getattr(mod, call)()


def test_api_scheme_tells_tls_from_clear_from_silence(certs: CertFiles):
    secure = FakePatroni(tls=certs)
    clear = FakePatroni()
    for server in (secure, clear):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        mod.__pillar__ = pillar(secure.server_address[1], ca=certs.ca)  # type: ignore[attr-defined]
        assert mod.api_scheme() == {"scheme": "https", "error": None}
        mod.__pillar__ = pillar(clear.server_address[1], ca=certs.ca)  # type: ignore[attr-defined]
        seen = mod.api_scheme()
        assert seen["scheme"] == "http"
        assert seen["error"].startswith(f"GET https://127.0.0.1:{clear.server_address[1]}/patroni: ")
        # The probe in clear is a read without credentials.
        assert [(r["method"], r["path"], r["auth"]) for r in clear.requests] == [("GET", "/patroni", None)]
        port = free_port()
        mod.__pillar__ = pillar(port, ca=certs.ca)  # type: ignore[attr-defined]
        assert mod.api_scheme() == {
            "scheme": None,
            "error": f"GET https://127.0.0.1:{port}/patroni: connection refused",
        }
    finally:
        for server in (secure, clear):
            server.shutdown()
            server.server_close()
