"""HAProxy's runtime API over its admin socket (``stats socket … level admin``), standard library only.

One command per connection: HAProxy answers and closes the connection when the client is not
in interactive mode, so ``send`` reads until end of file.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from dataclasses import dataclass
from typing import Literal

from pigsalt.agent import AgentError

__all__ = ["DEFAULT_SOCKET", "ServerState", "parse_stat", "send", "servers", "set_health", "set_state"]

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
# HAProxy's own rule for proxy and server names: letters, digits, '-', '_', '.' and ':'.
_NAME = re.compile(r"[A-Za-z0-9_.:-]+")
_AGGREGATES = frozenset({"FRONTEND", "BACKEND"})

State = Literal["ready", "drain", "maint"]


@dataclass(frozen=True)
class ServerState:
    """One server line of ``show stat``."""

    backend: str
    server: str
    status: str
    weight: int
    current_sessions: int
    check_status: str


def send(command: str, socket_path: str = DEFAULT_SOCKET, timeout: float = 5) -> str:
    """Send one runtime API ``command`` and return HAProxy's whole answer."""
    what = f"HAProxy {socket_path}: {command!r}"
    if not command.strip() or "\n" in command or "\r" in command:
        raise AgentError(f"{what}: one command, on one line")
    chunks: list[bytes] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(float(timeout))
            sock.connect(socket_path)
            sock.sendall(command.encode() + b"\n")
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except FileNotFoundError:
        raise AgentError(f"{what}: no such socket (is HAProxy running, with a stats socket there?)") from None
    except ConnectionRefusedError:
        raise AgentError(f"{what}: connection refused (HAProxy is not listening)") from None
    except PermissionError:
        raise AgentError(f"{what}: permission denied") from None
    except TimeoutError:
        raise AgentError(f"{what}: no complete answer within {timeout:g} s") from None
    except OSError as err:
        raise AgentError(f"{what}: {err.strerror or err}") from None
    return b"".join(chunks).decode("utf-8", "replace")


def _rows(text: str) -> list[dict[str, str]]:
    """Every row of a ``show stat`` answer, keyed by the header's field names."""
    if not text.startswith("# "):
        first = text.strip().splitlines()[0] if text.strip() else "nothing"
        raise AgentError(f"HAProxy show stat: unexpected answer: {first[:200]}")
    rows = csv.DictReader(io.StringIO(text[2:]))
    missing = {"pxname", "svname", "status", "weight", "scur", "check_status"} - set(rows.fieldnames or ())
    if missing:
        raise AgentError(f"HAProxy show stat: no {', '.join(sorted(missing))} in the header")
    return [row for row in rows if row.get("pxname")]


def _server(row: dict[str, str]) -> ServerState:
    try:
        return ServerState(
            backend=row["pxname"],
            server=row["svname"],
            status=row["status"],
            weight=int(row["weight"] or 0),
            current_sessions=int(row["scur"] or 0),
            check_status=row["check_status"] or "",
        )
    except (TypeError, ValueError) as err:
        raise AgentError(f"HAProxy show stat: bad line for {row['pxname']}/{row['svname']}: {err}") from None


def parse_stat(text: str) -> list[ServerState]:
    """The server lines of a ``show stat`` answer (the FRONTEND and BACKEND totals left out)."""
    return [_server(row) for row in _rows(text) if row["svname"] not in _AGGREGATES]


def _check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise AgentError(f"HAProxy: {name!r} is not a {kind} name (letters, digits, '-', '_', '.', ':')")
    return name


def servers(backend: str | None = None, socket_path: str = DEFAULT_SOCKET) -> list[ServerState]:
    """The servers HAProxy knows, of one ``backend`` when given (which must exist)."""
    if backend is not None:
        _check_name("backend", backend)
    rows = _rows(send("show stat", socket_path))
    if backend is None:
        return [_server(row) for row in rows if row["svname"] not in _AGGREGATES]
    if not any(row["pxname"] == backend for row in rows):
        raise AgentError(f"HAProxy {socket_path}: no backend {backend}")
    return [_server(row) for row in rows if row["pxname"] == backend and row["svname"] not in _AGGREGATES]


def set_state(backend: str, server: str, state: State, socket_path: str = DEFAULT_SOCKET) -> None:
    """Put ``backend/server`` in ``state``: ``ready`` (takes traffic), ``drain`` (no new traffic), ``maint`` (off)."""
    if state not in ("ready", "drain", "maint"):
        raise AgentError(f"HAProxy: server state {state!r} is not ready, drain or maint")
    _command(f"set server {_check_name('backend', backend)}/{_check_name('server', server)} state {state}", socket_path)


def set_health(backend: str, server: str, enabled: bool, socket_path: str = DEFAULT_SOCKET) -> None:
    """Resume (``enabled``) or stop the health checks of ``backend/server``.

    A server whose checks are stopped is taken as UP by HAProxy whatever its last result was:
    stop them on servers that are UP only."""
    verb = "enable" if enabled else "disable"
    _command(f"{verb} health {_check_name('backend', backend)}/{_check_name('server', server)}", socket_path)


def _command(command: str, socket_path: str) -> None:
    """A command HAProxy answers with nothing when it did it; anything else is its refusal."""
    answer = send(command, socket_path).strip()
    if answer:
        raise AgentError(f"HAProxy {socket_path}: {command!r}: {answer}")
