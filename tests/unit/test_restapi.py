"""pigsalt.restapi: the scheme a Patroni REST API answers in, told from outside."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pigsalt import restapi
from tests.certs import make_certs
from tests.serve import serving


def _ok(method: str, path: str) -> tuple[int, bytes]:
    return 200, b"{}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _babbler() -> Iterator[int]:
    """Accepts a connection, writes something that is neither TLS nor HTTP, closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-x\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_tls_server_is_https(tmp_path: Path) -> None:
    with serving(_ok, make_certs(tmp_path)) as port:
        assert restapi.scheme("127.0.0.1", port) == "https"


def test_a_plain_server_is_http() -> None:
    with serving(_ok) as port:
        assert restapi.scheme("127.0.0.1", port) == "http"


def test_a_closed_port_is_down() -> None:
    assert restapi.scheme("127.0.0.1", _free_port()) == "down"


def test_an_answer_that_is_neither_is_unknown() -> None:
    with _babbler() as port:
        assert restapi.scheme("127.0.0.1", port, timeout=2) == "unknown"


def test_schemes_probes_every_member(tmp_path: Path) -> None:
    with serving(_ok, make_certs(tmp_path)) as tls, serving(_ok) as plain:
        found = restapi.schemes({"a": ("127.0.0.1", tls), "b": ("127.0.0.1", plain), "c": ("127.0.0.1", _free_port())})
    assert found == {"a": "https", "b": "http", "c": "down"}
    assert restapi.schemes({}) == {}


@pytest.mark.parametrize(
    ("found", "needed"),
    [
        ({"a": "https", "b": "https"}, False),
        ({"a": "down", "b": "down"}, False),  # a new cluster: the first run writes TLS before Patroni starts
        ({"a": "https", "b": "http"}, True),
        ({"a": "https", "b": "unknown"}, True),  # cannot tell: convert (it changes nothing on a converted member)
        ({}, False),
    ],
)
def test_conversion_is_needed_unless_every_member_is_converted_or_down(found: dict[str, str], needed: bool) -> None:
    assert restapi.needs_conversion(found) is needed
