"""The health each HAProxy server starts with, measured just before a start or a reload; standard
library only.

A new HAProxy process (a start, or the new worker of a reload) takes every checked server as UP
until its first check comes back, up to one ``inter`` later: for that moment 5433 can hand a write
to a replica, and 5434 a read to a member that is not streaming. Run by ``haproxy.service`` right
before the start or the reload signal (pigsalt's drop-in), this runs each server's health check of
the configuration about to be loaded once, as HAProxy would (the ``http-check send`` request, the
check port, TLS with the ``ca-file`` and ``verifyhost``, the ``http-check expect status``), and
writes the results as HAProxy's server-state file (version 1), which that configuration loads
(``server-state-file``, ``load-server-state-from-file global``)::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.haproxy_state \\
        --config /etc/haproxy/haproxy.cfg --state /var/lib/haproxy/server-state

Each server then starts UP or DOWN as its check answers now. The old worker's own state (``show
servers state``) is not carried over on purpose: when a change alters the checks (a cluster
converted to TLS), the old worker's health answers the old check, and a server it saw failing
would start DOWN and take ``rise`` checks to come back. (A TLS check with no TLS answer is asked
once more in clear, for this first state only: see ``probe``.)

Only what the state file needs is read from the configuration: ``backend`` sections with
``option httpchk``, their ``http-check`` lines and ``server``/``default-server`` options. A server
without ``check`` gets no line (HAProxy's default applies). This never fails the start or the
reload: on an error the state file is removed (every server starts as HAProxy's default) and the
reason goes to stderr, so to the unit's journal.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Check", "main", "parse_checks", "probe", "state_file"]

DEFAULT_CONFIG = "/etc/haproxy/haproxy.cfg"
DEFAULT_STATE = "/var/lib/haproxy/server-state"
# HAProxy's enums (include/haproxy/server-t.h, check-t.h): operational states, check results,
# the check status "initializing" (a new check's; "unknown", 0, leaves the checks stalled: seen
# on 3.0, no check ever completed), and the check state "configured and enabled".
_STOPPED, _RUNNING = 0, 2
_CHECK_FAILED, _CHECK_PASSED = 2, 3
_CHECK_STATUS_INI = 1
_CHECK_CONFIGURED_ENABLED = 0x2 | 0x4
_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
    " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord"
)


@dataclass(frozen=True)
class Check:
    """One server's health check, as the configuration describes it."""

    backend: str
    server: str
    address: str
    port: int
    weight: int = 1
    check_port: int | None = None
    method: str = "OPTIONS"
    uri: str = "/"
    status: int = 200
    tls: bool = False
    ca_file: str | None = None
    verify: bool = True
    verifyhost: str | None = None


@dataclass
class _Backend:
    name: str
    httpchk: bool = False
    method: str = "OPTIONS"
    uri: str = "/"
    status: int = 200
    defaults: tuple[str, ...] = ()


def _split_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"no port in server address {text!r}")
    return host.strip("[]"), int(port)


def _server(backend: _Backend, words: list[str]) -> Check | None:
    """A ``server NAME ADDR:PORT OPTIONS…`` line (after ``default-server`` options), or None
    when the server has no health check of this kind."""
    name, address, options = words[1], words[2], [*backend.defaults, *words[3:]]
    if "check" not in options or not backend.httpchk:
        return None
    host, port = _split_address(address)
    check = Check(backend.name, name, host, port, method=backend.method, uri=backend.uri, status=backend.status)
    for i, word in enumerate(options):
        following = options[i + 1] if i + 1 < len(options) else ""
        if word == "port":
            check = replace(check, check_port=int(following))
        elif word == "weight":
            check = replace(check, weight=int(following))
        elif word == "check-ssl":
            check = replace(check, tls=True)
        elif word == "ca-file":
            check = replace(check, ca_file=following)
        elif word == "verifyhost":
            check = replace(check, verifyhost=following)
        elif word == "verify":
            check = replace(check, verify=following != "none")
    return check


def parse_checks(text: str) -> list[Check]:
    """Every checked server of every ``backend`` section of the configuration ``text``."""
    checks: list[Check] = []
    backend: _Backend | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if not raw[0].isspace():
            backend = _Backend(words[1]) if words[0] == "backend" and len(words) > 1 else None
            continue
        if backend is None:
            continue
        if words[:2] == ["option", "httpchk"]:
            backend.httpchk = True
        elif words[:2] == ["http-check", "send"]:
            for key, value in zip(words[2::2], words[3::2], strict=False):
                if key == "meth":
                    backend.method = value
                elif key == "uri":
                    backend.uri = value
        elif words[:3] == ["http-check", "expect", "status"] and len(words) > 3:
            backend.status = int(words[3])
        elif words[0] == "default-server":
            backend.defaults = tuple(words[1:])
        elif words[0] == "server" and len(words) >= 3:
            check = _server(backend, words)
            if check is not None:
                checks.append(check)
    return checks


def _status(check: Check, timeout: float) -> int | None:
    """The HTTP status ``check``'s request gets now; None without an answer."""
    port = check.check_port or check.port
    try:
        sock = socket.create_connection((check.address, port), timeout=timeout)
        if check.tls:
            context = ssl.create_default_context(cafile=check.ca_file)
            # HAProxy's verifyhost: the certificate must name this host (no SNI is sent).
            context.check_hostname = check.verify and check.verifyhost is not None
            if not check.verify:
                context.verify_mode = ssl.CERT_NONE
            hostname = check.verifyhost if context.check_hostname else None
            sock = context.wrap_socket(sock, server_hostname=hostname)
        connection = http.client.HTTPConnection(check.address, port, timeout=timeout)
        connection.sock = sock
        try:
            connection.request(check.method, check.uri, headers={"Connection": "close"})
            return connection.getresponse().status
        finally:
            connection.close()
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError):
        return None


def probe(check: Check, timeout: float = 2.0) -> bool:
    """True when ``check`` passes now: its request answered with its expected status.

    A TLS check that gets no answer over TLS is asked once more in clear: while a cluster is
    converted to TLS, the members' Patroni switch within seconds of each other, and a member
    still in clear would otherwise start DOWN and take ``downinter`` plus ``rise`` checks to come
    back (5433 without its primary for seconds). This decides the first state only; from then
    on HAProxy's own checks verify the certificate, as without this agent (where every server
    starts UP)."""
    status = _status(check, timeout)
    if status is None and check.tls:
        status = _status(replace(check, tls=False), timeout)
    return status == check.status


def state_file(results: list[tuple[Check, bool]]) -> str:
    """HAProxy's server-state file (version 1) that starts each server as its check answered.

    Read with ``load-server-state-from-file global``, where lines are matched by backend and
    server names only (the ids are not compared). The admin state is ready and both weights are
    the configured one, so the configuration decides them."""
    lines = ["1", _HEADER]
    for n, (check, up) in enumerate(results, start=1):
        state, result = (_RUNNING, _CHECK_PASSED) if up else (_STOPPED, _CHECK_FAILED)
        fields = [
            n, check.backend, n, check.server, check.address, state, 0, check.weight, check.weight,
            0, _CHECK_STATUS_INI, result, 0, _CHECK_CONFIGURED_ENABLED, 0, 0, 0, "-", check.port, "-",
        ]  # fmt: skip
        lines.append(" ".join(str(f) for f in fields))
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pigsalt.agent.haproxy_state", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="the configuration HAProxy is about to load")
    parser.add_argument("--state", default=DEFAULT_STATE, help="the server-state file it reads")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per check (default 2)")
    args = parser.parse_args(argv)
    state = Path(args.state)
    try:
        checks = parse_checks(Path(args.config).read_text())
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda c: probe(c, args.timeout), checks))
        _write(state, state_file(list(zip(checks, answers, strict=True))))
    except (OSError, ValueError, IndexError) as err:
        print(
            f"haproxy_state: no server state written, every server starts as HAProxy's default: {err}", file=sys.stderr
        )
        state.unlink(missing_ok=True)
        return 0
    down = [f"{c.backend}/{c.server}" for c, up in zip(checks, answers, strict=True) if not up]
    print(
        f"haproxy_state: {len(checks) - len(down)} of {len(checks)} servers start UP; DOWN: {', '.join(down) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
