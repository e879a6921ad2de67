"""A throwaway HTTP(S) server on loopback for unit tests of clients (Patroni's API and the like)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.certs import CertFiles

# The status and body to answer for a method and a path.
Answer = Callable[[str, str], tuple[int, bytes]]


def handler(answer: Answer) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler that answers GET and OPTIONS with ``answer(method, path)``, quietly."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            status, body = answer(self.command, self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_OPTIONS = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(answer: Answer, certs: CertFiles | None = None) -> Iterator[int]:
    """Serve ``answer`` on 127.0.0.1 (over TLS with ``certs``' server certificate): the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(answer))
    if certs is not None:
        server.socket = certs.server_context().wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
