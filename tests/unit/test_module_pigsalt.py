"""The ``pigsalt`` execution module's waits, against real sockets on loopback."""

from __future__ import annotations

import http.server
import importlib.util
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from salt.exceptions import CommandExecutionError

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_module", ROOT / "_modules" / "pigsalt.py")
assert spec is not None and spec.loader is not None
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


def test_wait_tcp_ready_and_timeout(listener: int):
    assert mod.wait_tcp("127.0.0.1", listener, timeout=5)["ready"] is True
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(CommandExecutionError, match=rf"tcp 127.0.0.1:{port}: not ready after 0.3 s \(last: "):
        mod.wait_tcp("127.0.0.1", port, timeout=0.3, interval=0.1)


def test_wait_http_checks_the_status():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert mod.wait_http(f"{base}/ok", timeout=5)["seen"] == "HTTP 200"
        with pytest.raises(CommandExecutionError, match=r"GET .*/down: not ready after 0.3 s \(last: HTTP 503\)"):
            mod.wait_http(f"{base}/down", timeout=0.3, interval=0.1)
    finally:
        server.shutdown()


def fake_dns(answers: dict[str, str]) -> tuple[socket.socket, int]:
    """A one-thread UDP DNS server answering A queries from ``answers`` (NXDOMAIN otherwise)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(512)
            except OSError:
                return
            ident = data[:2]
            pos, labels = 12, []
            while data[pos]:
                labels.append(data[pos + 1 : pos + 1 + data[pos]].decode())
                pos += data[pos] + 1
            question = data[12 : pos + 5]
            ip = answers.get(".".join(labels))
            if ip is None:
                sock.sendto(ident + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + question, peer)
                continue
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
            sock.sendto(ident + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + answer, peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


def test_dns_query_and_wait(monkeypatch: pytest.MonkeyPatch):
    sock, port = fake_dns({"pg-test-1": "10.10.10.11"})
    real = mod._dns_query
    monkeypatch.setattr(mod, "_dns_query", lambda name, server: real(name, server, port))
    try:
        assert mod._dns_query("pg-test-1", "127.0.0.1") == ["10.10.10.11"]
        assert mod.wait_dns("pg-test-1", "127.0.0.1", expect="10.10.10.11", timeout=5)["ready"] is True
        with pytest.raises(CommandExecutionError, match=r"DNS pg-test-1 at 127.0.0.1: not ready .*last: 10.10.10.11"):
            mod.wait_dns("pg-test-1", "127.0.0.1", expect="10.10.10.12", timeout=0.3, interval=0.1)
        with pytest.raises(CommandExecutionError, match=r"last: rcode 3"):
            mod.wait_dns("nothing", "127.0.0.1", timeout=0.3, interval=0.1)
    finally:
        sock.close()


def test_wait_cmd():
    assert mod.wait_cmd(["true"], timeout=5)["ready"] is True
    with pytest.raises(
        CommandExecutionError, match=r"sh -c echo broken; exit 3: not ready after 0.3 s \(last: broken\)"
    ):
        mod.wait_cmd(["sh", "-c", "echo broken; exit 3"], timeout=0.3, interval=0.1)
    with pytest.raises(CommandExecutionError, match="argument list"):
        mod.wait_cmd("true")
