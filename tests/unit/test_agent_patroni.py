"""``pigsalt.agent.patroni`` against a real HTTP server on loopback that answers as Patroni 4.1 does."""

from __future__ import annotations

import base64
import copy
import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent.patroni import ClusterStatus, Member, NodeStatus, PatroniClient, role_for_hba
from tests.certs import CertFiles, make_certs

USERNAME = "postgres"
PASSWORD = "Patroni.Secret-42"

PATRONI: dict[str, Any] = {
    "state": "running",
    "postmaster_start_time": "2026-11-25 17:00:00.100000+00:00",
    "role": "primary",
    "server_version": 150010,
    "xlog": {"location": 67108960},
    "timeline": 1,
    "replication": [
        {
            "usename": "replicator",
            "application_name": "pg-test-2",
            "client_addr": "10.10.10.12",
            "state": "streaming",
            "sync_state": "async",
            "sync_priority": 0,
        }
    ],
    "dcs_last_seen": 1795626000,
    "database_system_identifier": "7441431462785447990",
    "patroni": {"version": "4.1.5", "scope": "pg-test", "name": "pg-test-1"},
}

CLUSTER: dict[str, Any] = {
    "members": [
        {
            "name": "pg-test-1",
            "role": "leader",
            "state": "running",
            "api_url": "http://10.10.10.11:8008/patroni",
            "host": "10.10.10.11",
            "port": 5432,
            "timeline": 1,
        },
        {
            "name": "pg-test-2",
            "role": "replica",
            "state": "streaming",
            "api_url": "http://10.10.10.12:8008/patroni",
            "host": "10.10.10.12",
            "port": 5432,
            "timeline": 1,
            "lag": 0,
            "receive_lag": 0,
            "replay_lag": 0,
        },
    ],
    "scope": "pg-test",
}

CONFIG: dict[str, Any] = {
    "ttl": 30,
    "loop_wait": 10,
    "retry_timeout": 10,
    "maximum_lag_on_failover": 1048576,
    "failsafe_mode": True,
    "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": {"max_connections": 100}},
}

Answer = tuple[int, Any]
Route = Answer | list[Answer] | Callable[[Any], Answer]


def cluster_with(**members: dict[str, Any]) -> dict[str, Any]:
    """``CLUSTER`` with the fields of the named members replaced."""
    found = copy.deepcopy(CLUSTER)
    for member in found["members"]:
        member.update(members.get(member["name"].replace("-", "_"), {}))
    return found


class FakePatroni(http.server.ThreadingHTTPServer):
    """Patroni's REST API as far as pigsalt uses it: canned answers, and a record of every request.

    A route is an answer ``(status, payload)``, a list of answers given in turn (the last one
    repeats), or a function of the request body. Unsafe methods need the credentials, as
    ``restapi.authentication`` makes them.
    """

    daemon_threads = True

    def __init__(self, tls: CertFiles | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls is not None:
            # As Patroni's restapi.certfile/keyfile: TLS from the first byte.
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/patroni"): (200, PATRONI),
            ("GET", "/cluster"): (200, CLUSTER),
            ("GET", "/config"): (200, CONFIG),
        }
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def unsafe(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] != "GET"]

    def answer(self, method: str, path: str, body: Any) -> Answer:
        with self.lock:
            route = self.routes.get((method, path))
            if route is None:
                return 404, ""
            if isinstance(route, list):
                return route.pop(0) if len(route) > 1 else route[0]
            if callable(route):
                return route(body)
            return route


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakePatroni

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        auth = self.headers.get("Authorization")
        self.server.requests.append({"method": self.command, "path": self.path, "auth": auth, "body": body})
        if self.command != "GET":
            expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
            if auth != expected:
                self._write(401, "no auth header received" if auth is None else "not authenticated")
                return
        self._write(*self.server.answer(self.command, self.path, body))

    def _write(self, status: int, payload: Any) -> None:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakePatroni]:
    server = FakePatroni()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(fake: FakePatroni) -> PatroniClient:
    return PatroniClient(fake.url, USERNAME, PASSWORD, timeout=5)


def auth_header() -> str:
    return "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_node_reads_patroni_without_credentials(fake: FakePatroni, client: PatroniClient):
    assert client.node() == NodeStatus(
        name="pg-test-1",
        role="primary",
        state="running",
        pending_restart=False,
        timeline=1,
        postmaster_start_time="2026-11-25 17:00:00.100000+00:00",
        server_version=150010,
    )
    assert fake.requests == [{"method": "GET", "path": "/patroni", "auth": None, "body": None}]


def test_node_pending_restart_and_old_role_name(fake: FakePatroni, client: PatroniClient):
    answer = {**PATRONI, "role": "master", "pending_restart": True, "pending_restart_reason": {"shared_buffers": {}}}
    fake.routes[("GET", "/patroni")] = (200, answer)
    assert client.node() == NodeStatus(
        name="pg-test-1",
        role="primary",
        state="running",
        pending_restart=True,
        timeline=1,
        postmaster_start_time="2026-11-25 17:00:00.100000+00:00",
        server_version=150010,
    )


def test_node_of_a_stopped_replica(fake: FakePatroni, client: PatroniClient):
    answer = {"state": "stopped", "role": "replica", "patroni": {"version": "4.1.5", "scope": "pg-test", "name": "x"}}
    fake.routes[("GET", "/patroni")] = (200, answer)
    assert client.node() == NodeStatus("x", "replica", "stopped", False, None, None, None)


def test_cluster_members_and_leader(client: PatroniClient):
    status = client.cluster()
    assert status == ClusterStatus(
        members=(
            Member("pg-test-1", "leader", "running", "10.10.10.11", 5432, None, 1, False),
            Member("pg-test-2", "replica", "streaming", "10.10.10.12", 5432, 0, 1, False),
        )
    )
    assert status.leader == "pg-test-1"


def test_cluster_unknown_lag_and_no_leader(fake: FakePatroni, client: PatroniClient):
    fake.routes[("GET", "/cluster")] = (
        200,
        cluster_with(
            pg_test_1={"role": "replica", "state": "stopped"},
            pg_test_2={"lag": "unknown", "pending_restart": True},
        ),
    )
    status = client.cluster()
    assert status.members[1] == Member("pg-test-2", "replica", "streaming", "10.10.10.12", 5432, None, 1, True)
    assert status.leader is None


def test_standby_leader_is_the_leader(fake: FakePatroni, client: PatroniClient):
    fake.routes[("GET", "/cluster")] = (200, cluster_with(pg_test_1={"role": "standby_leader"}))
    assert client.cluster().leader == "pg-test-1"


def test_config_and_patch_config(fake: FakePatroni, client: PatroniClient):
    patched = {**CONFIG, "loop_wait": 5}
    fake.routes[("PATCH", "/config")] = (200, patched)
    assert client.config() == CONFIG
    assert client.patch_config({"loop_wait": 5}) == patched
    assert fake.requests == [
        {"method": "GET", "path": "/config", "auth": None, "body": None},
        {"method": "PATCH", "path": "/config", "auth": auth_header(), "body": {"loop_wait": 5}},
    ]


def test_reload_and_restart_carry_credentials(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/reload")] = (202, "reload scheduled")
    fake.routes[("POST", "/restart")] = (200, "restarted successfully")
    client.reload()
    client.restart()
    client.restart(pending_only=True)
    assert fake.requests == [
        {"method": "POST", "path": "/reload", "auth": auth_header(), "body": None},
        {"method": "POST", "path": "/restart", "auth": auth_header(), "body": {}},
        {"method": "POST", "path": "/restart", "auth": auth_header(), "body": {"restart_pending": True}},
    ]


def test_restart_refused_says_what_patroni_said(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/restart")] = (503, "restart conditions are not satisfied")
    with pytest.raises(AgentError) as caught:
        client.restart(pending_only=True)
    assert str(caught.value) == (
        f"POST {fake.url}/restart: HTTP 503 Service Unavailable: restart conditions are not satisfied"
    )


def test_wrong_password_is_a_clear_error_without_the_password(fake: FakePatroni):
    wrong = PatroniClient(fake.url, USERNAME, "not-the-password", timeout=5)
    with pytest.raises(AgentError) as caught:
        wrong.reload()
    assert str(caught.value) == f"POST {fake.url}/reload: HTTP 401 Unauthorized: not authenticated"
    assert "not-the-password" not in str(caught.value)
    assert "not-the-password" not in repr(wrong)


def test_no_credentials_no_auth_header(fake: FakePatroni):
    with pytest.raises(AgentError, match=r"HTTP 401 Unauthorized: no auth header received"):
        PatroniClient(fake.url, None, None).restart()
    assert fake.requests[0]["auth"] is None


def test_password_echoed_by_the_server_is_scrubbed(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/reload")] = (500, f"oops {PASSWORD}")
    with pytest.raises(AgentError) as caught:
        client.reload()
    assert str(caught.value) == f"POST {fake.url}/reload: HTTP 500 Internal Server Error: oops ********"


def test_switchover(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/switchover")] = (200, 'Successfully switched over to "pg-test-2"')
    assert client.switchover("pg-test-1", "pg-test-2") == 'Successfully switched over to "pg-test-2"'
    assert client.switchover("pg-test-1", None) == 'Successfully switched over to "pg-test-2"'
    assert [r["body"] for r in fake.unsafe()] == [
        {"leader": "pg-test-1", "candidate": "pg-test-2"},
        {"leader": "pg-test-1"},
    ]


def test_switchover_status_unknown_is_not_a_failure(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/switchover")] = (503, "Switchover status unknown")
    assert client.switchover("pg-test-1", "pg-test-2") == "Switchover status unknown"


def test_switchover_impossible(fake: FakePatroni, client: PatroniClient):
    fake.routes[("POST", "/switchover")] = (412, "candidate does not exists")
    with pytest.raises(AgentError) as caught:
        client.switchover("pg-test-1", "pg-test-9")
    assert str(caught.value) == f"POST {fake.url}/switchover: HTTP 412 Precondition Failed: candidate does not exists"


def serve(server: FakePatroni) -> FakePatroni:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop(server: FakePatroni) -> None:
    server.shutdown()
    server.server_close()


def test_https_with_the_ca_carries_credentials_over_tls(tmp_path):
    certs = make_certs(tmp_path / "ok")
    server = serve(FakePatroni(tls=certs))
    server.routes[("POST", "/reload")] = (202, "reload scheduled")
    try:
        client = PatroniClient(server.url, USERNAME, PASSWORD, timeout=5, cafile=str(certs.ca))
        assert client.node().name == "pg-test-1"
        client.reload()
        assert [r["auth"] for r in server.requests] == [None, auth_header()]
    finally:
        stop(server)


def test_https_refuses_a_server_another_ca_signed_and_sends_nothing(tmp_path):
    server_certs = make_certs(tmp_path / "server")
    other = make_certs(tmp_path / "other")
    server = serve(FakePatroni(tls=server_certs))
    try:
        client = PatroniClient(server.url, USERNAME, PASSWORD, timeout=5, cafile=str(other.ca))
        with pytest.raises(AgentError) as caught:
            client.reload()
        message = str(caught.value)
        assert message.startswith(f"POST {server.url}/reload: ")
        assert "certificate verify failed" in message
        assert PASSWORD not in message
        assert server.requests == []
    finally:
        stop(server)


def test_https_checks_the_name_in_the_url_against_the_certificate(tmp_path):
    certs = make_certs(tmp_path / "names", names=("pg-test-1",), ips=("10.10.10.11",))
    server = serve(FakePatroni(tls=certs))
    try:
        client = PatroniClient(server.url, USERNAME, PASSWORD, timeout=5, cafile=str(certs.ca))
        with pytest.raises(AgentError, match="certificate verify failed: IP address mismatch"):
            client.node()
    finally:
        stop(server)


def test_connection_refused():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AgentError) as caught:
        PatroniClient(url, USERNAME, PASSWORD).cluster()
    assert str(caught.value) == f"GET {url}/cluster: connection refused"


def test_no_answer_in_time():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(AgentError) as caught:
            PatroniClient(url, USERNAME, PASSWORD, timeout=0.2).node()
    assert str(caught.value) == f"GET {url}/patroni: no answer within 0.2 s"


def test_not_json_and_unexpected_json(fake: FakePatroni, client: PatroniClient):
    fake.routes[("GET", "/cluster")] = (200, "<html>proxy error</html>")
    with pytest.raises(AgentError) as caught:
        client.cluster()
    assert str(caught.value) == f"GET {fake.url}/cluster: answer is not JSON: b'<html>proxy error</html>'"
    fake.routes[("GET", "/cluster")] = (200, {"scope": "pg-test"})
    with pytest.raises(AgentError) as caught:
        client.cluster()
    assert str(caught.value) == f"GET {fake.url}/cluster: unexpected answer: no 'members' list"
    fake.routes[("GET", "/patroni")] = (200, {"state": "running", "role": "primary"})
    with pytest.raises(AgentError) as caught:
        client.node()
    assert str(caught.value) == f"GET {fake.url}/patroni: unexpected answer: no 'patroni' object in ['role', 'state']"


def test_not_found(fake: FakePatroni, client: PatroniClient):
    fake.routes.pop(("GET", "/config"))
    with pytest.raises(AgentError) as caught:
        client.config()
    assert str(caught.value) == f"GET {fake.url}/config: HTTP 404 Not Found"


def test_wait_leader_polls_until_the_new_leader_runs(fake: FakePatroni, client: PatroniClient):
    fake.routes[("GET", "/cluster")] = [
        (200, CLUSTER),
        (200, cluster_with(pg_test_1={"role": "replica", "state": "stopped"})),
        (503, "cluster is being changed"),
        (200, cluster_with(pg_test_1={"role": "replica"}, pg_test_2={"role": "leader", "state": "starting"})),
        (
            200,
            cluster_with(
                pg_test_1={"role": "replica", "state": "streaming"}, pg_test_2={"role": "leader", "state": "running"}
            ),
        ),
    ]
    assert client.wait_leader(expect="pg-test-2", not_="pg-test-1", timeout=10, interval=0.01) == "pg-test-2"
    assert len(fake.requests) == 5


def test_wait_leader_any_leader(client: PatroniClient):
    assert client.wait_leader(expect=None, not_=None, timeout=1) == "pg-test-1"


def test_wait_leader_times_out_with_what_it_saw(client: PatroniClient):
    with pytest.raises(AgentError) as caught:
        client.wait_leader(expect="pg-test-2", not_="pg-test-1", timeout=0.2, interval=0.05)
    assert str(caught.value) == (
        "a running leader named pg-test-2 other than pg-test-1: "
        "not there after 0.2 s (last: leader pg-test-1 (running))"
    )


def test_wait_leader_times_out_on_errors():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AgentError) as caught:
        PatroniClient(url, None, None).wait_leader(expect=None, not_="pg-test-1", timeout=0.2, interval=0.05)
    assert str(caught.value) == (
        f"a running leader other than pg-test-1: not there after 0.2 s (last: GET {url}/cluster: connection refused)"
    )


@pytest.mark.parametrize(
    ("role", "hba"),
    [
        ("primary", "primary"),
        ("master", "primary"),
        ("standby_leader", "primary"),
        ("leader", "primary"),
        ("replica", "replica"),
        ("sync_standby", "replica"),
        ("demoted", "replica"),
        ("uninitialized", "replica"),
    ],
)
def test_role_for_hba(role: str, hba: str):
    assert role_for_hba(role) == hba
