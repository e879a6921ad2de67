"""Which scheme each member's Patroni REST API answers in, seen from the master.

``pigsty.cluster`` converts a cluster deployed before pigsalt's TLS (Patroni's REST API in
clear) in four extra steps, one Salt job each (~5 s on a converged cluster). It asks here
first and runs them only when a member answers in clear or cannot be told: a member that
completes a TLS handshake is converted already, and one that refuses the connection has no
Patroni running (a new cluster: its first run writes the TLS configuration before it starts).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

Scheme = Literal["https", "http", "down", "unknown"]

#: Schemes that need no conversion step.
CONVERTED: frozenset[str] = frozenset({"https", "down"})


def scheme(host: str, port: int, timeout: float = 3.0) -> Scheme:
    """``https`` when ``host:port`` completes a TLS handshake, ``http`` when it answers a plain
    HTTP request, ``down`` when it refuses the connection, ``unknown`` otherwise (a timeout, an
    unreachable host, an answer that is neither). The handshake does not verify the
    certificate: it tells the protocol, and nothing is sent over it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return "https"
    except ConnectionRefusedError:
        return "down"
    except ssl.SSLError:
        pass  # not TLS: try plain HTTP below
    except OSError:
        return "unknown"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.sendall(b"GET /liveness HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
            head = raw.recv(5)
    except ConnectionRefusedError:
        return "down"
    except OSError:
        return "unknown"
    return "http" if head == b"HTTP/" else "unknown"


def schemes(endpoints: Mapping[str, tuple[str, int]], timeout: float = 3.0) -> dict[str, Scheme]:
    """``scheme`` of every endpoint (by member), probed side by side."""
    if not endpoints:
        return {}
    with ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        found = {m: pool.submit(scheme, host, port, timeout) for m, (host, port) in endpoints.items()}
        return {m: f.result() for m, f in found.items()}


def needs_conversion(found: Mapping[str, str]) -> bool:
    """True unless every member is converted already or not running."""
    return any(s not in CONVERTED for s in found.values())
