"""A small Prometheus exporter for Pgbouncer, standard library only.

Debian bookworm's prometheus-pgbouncer-exporter 1.7 crashes against Pgbouncer 1.18 (it reads
``total_requests``, gone since 1.8), and the PyPI alternative pins a psycopg2 that must be
compiled. This one runs in the nodes' Salt venv and asks the admin console through ``psql``
(peer authentication on the Unix socket, so it runs as the database superuser's OS user)::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.pgbouncer_exporter \\
        --listen 0.0.0.0:9631 --pgbouncer-port 6432 --socket-dir /var/run/postgresql --user postgres --timeout 5

A scrape of ``/metrics`` runs SHOW STATS, SHOW POOLS and SHOW DATABASES. A column that this
Pgbouncer version does not have is skipped; when the console cannot be asked, the answer is
``pgbouncer_up 0`` and the scrape duration, and the error goes to stderr.

Requests cannot multiply the work: one scrape runs at a time, and its answer serves every
request for ``--cache-seconds`` (requests that arrive while it runs wait for it instead of
starting their own); at most ``--max-requests`` are served at once (more get 503 at once), and
a client gets ``--request-timeout`` seconds to send its request.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from pigsalt.agent import psql
from pigsalt.agent.argtypes import count, seconds
from pigsalt.agent.pgbouncer import parse_csv

__all__ = ["CONTENT_TYPE", "CachedScrape", "Runner", "main", "parse_listen", "psql_runner", "render", "scrape", "serve"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Runs one admin console command and returns psql's CSV output, or raises.
Runner = Callable[[str], str]
Row = Mapping[str, "str | None"]  # csv.DictReader fills the fields of a short row with None
Value = Callable[[Row], "float | None"]

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_MICROS = 1_000_000  # Pgbouncer counts time in microseconds


def _number(text: str | None) -> float | None:
    """``text`` as a number, or None when it is empty or not a plain decimal."""
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    return float(text) if "." in text else int(text)


def _column(name: str, divisor: int = 1) -> Value:
    """The number in column ``name``, divided (microseconds to seconds) by ``divisor``."""

    def value(row: Row) -> float | None:
        number = _number(row.get(name))
        return number if number is None or divisor == 1 else number / divisor

    return value


def _maxwait(row: Row) -> float | None:
    # Pgbouncer splits the longest wait into whole seconds and the microseconds beyond them.
    seconds = _number(row.get("maxwait"))
    if seconds is None:
        return None
    micros = _number(row.get("maxwait_us"))
    return seconds if micros is None else (seconds * _MICROS + micros) / _MICROS


# (metric, type, help, value of one row); the labels come from the table.
_STATS: tuple[tuple[str, str, str, Value], ...] = (
    (
        "pgbouncer_stats_sql_transactions_pooled_total",
        "counter",
        "SQL transactions pooled by Pgbouncer.",
        _column("total_xact_count"),
    ),
    (
        "pgbouncer_stats_queries_pooled_total",
        "counter",
        "SQL queries pooled by Pgbouncer.",
        _column("total_query_count"),
    ),
    ("pgbouncer_stats_received_bytes_total", "counter", "Bytes received from clients.", _column("total_received")),
    ("pgbouncer_stats_sent_bytes_total", "counter", "Bytes sent to clients.", _column("total_sent")),
    (
        "pgbouncer_stats_sql_transactions_duration_seconds_total",
        "counter",
        "Time spent in transactions, while connected to a server.",
        _column("total_xact_time", _MICROS),
    ),
    (
        "pgbouncer_stats_queries_duration_seconds_total",
        "counter",
        "Time spent in queries, while connected to a server.",
        _column("total_query_time", _MICROS),
    ),
    (
        "pgbouncer_stats_client_wait_seconds_total",
        "counter",
        "Time clients spent waiting for a server.",
        _column("total_wait_time", _MICROS),
    ),
)
_POOLS: tuple[tuple[str, str, str, Value], ...] = (
    (
        "pgbouncer_pools_client_active_connections",
        "gauge",
        "Client connections linked to a server connection or idle with no queries waiting.",
        _column("cl_active"),
    ),
    (
        "pgbouncer_pools_client_waiting_connections",
        "gauge",
        "Client connections that sent queries and wait for a server connection.",
        _column("cl_waiting"),
    ),
    (
        "pgbouncer_pools_server_active_connections",
        "gauge",
        "Server connections linked to a client.",
        _column("sv_active"),
    ),
    (
        "pgbouncer_pools_server_idle_connections",
        "gauge",
        "Server connections unused and ready for a client query.",
        _column("sv_idle"),
    ),
    (
        "pgbouncer_pools_server_used_connections",
        "gauge",
        "Server connections idle for longer than server_check_delay, to be checked before use.",
        _column("sv_used"),
    ),
    (
        "pgbouncer_pools_server_testing_connections",
        "gauge",
        "Server connections running server_reset_query or server_check_query.",
        _column("sv_tested"),
    ),
    (
        "pgbouncer_pools_server_login_connections",
        "gauge",
        "Server connections in the middle of logging in.",
        _column("sv_login"),
    ),
    (
        "pgbouncer_pools_client_maxwait_seconds",
        "gauge",
        "How long the oldest waiting client has waited.",
        _maxwait,
    ),
)
_DATABASES: tuple[tuple[str, str, str, Value], ...] = (
    ("pgbouncer_databases_pool_size", "gauge", "Maximum number of server connections.", _column("pool_size")),
    (
        "pgbouncer_databases_max_connections",
        "gauge",
        "Maximum number of allowed server connections.",
        _column("max_connections"),
    ),
    (
        "pgbouncer_databases_current_connections",
        "gauge",
        "Current number of server connections.",
        _column("current_connections"),
    ),
    ("pgbouncer_databases_paused", "gauge", "1 if this database is paused, else 0.", _column("paused")),
    ("pgbouncer_databases_disabled", "gauge", "1 if this database is disabled, else 0.", _column("disabled")),
)


def _format(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape(label_value: str) -> str:
    return label_value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: Sequence[tuple[Mapping[str, str], float]]) -> list[str]:
    """The exposition lines of one metric family; none at all when it has no samples."""
    if not samples:
        return []
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        pairs = ",".join(f'{key}="{_escape(label)}"' for key, label in labels.items())
        lines.append(f"{name}{{{pairs}}} {_format(value)}" if pairs else f"{name} {_format(value)}")
    return lines


def _table(rows: Sequence[Row], metrics: Sequence[tuple[str, str, str, Value]], labels: Mapping[str, str]) -> list[str]:
    """The families of one SHOW table; ``labels`` maps each label to the column it comes from."""
    lines: list[str] = []
    for name, kind, help_text, value_of in metrics:
        samples: list[tuple[Mapping[str, str], float]] = []
        for row in rows:
            label_values = {label: row.get(column) for label, column in labels.items()}
            value = value_of(row)
            if value is None or any(v is None for v in label_values.values()):
                continue
            samples.append(({label: v or "" for label, v in label_values.items()}, value))
        lines += _family(name, kind, help_text, samples)
    return lines


def render(stats: Sequence[Row], pools: Sequence[Row], databases: Sequence[Row], up: bool, duration: float) -> str:
    """The Prometheus text exposition of one scrape (the rows are ``parse_csv`` of each SHOW)."""
    lines = _family("pgbouncer_up", "gauge", "1 if Pgbouncer's admin console answered, else 0.", [({}, int(up))])
    lines += _family("pgbouncer_scrape_duration_seconds", "gauge", "How long asking Pgbouncer took.", [({}, duration)])
    if up:
        lines += _table(stats, _STATS, {"database": "database"})
        lines += _table(pools, _POOLS, {"database": "database", "user": "user"})
        lines += _table(databases, _DATABASES, {"database": "name"})
    return "\n".join(lines) + "\n"


def scrape(runner: Runner) -> str:
    """Ask Pgbouncer through ``runner`` and render the answer; ``pgbouncer_up 0`` when anything fails."""
    started = time.monotonic()
    try:
        stats = parse_csv(runner("SHOW STATS"))
        pools = parse_csv(runner("SHOW POOLS"))
        databases = parse_csv(runner("SHOW DATABASES"))
    except Exception as err:  # whatever went wrong, the exporter keeps answering and says up 0
        log.error("scrape failed: %s", err)
        return render([], [], [], up=False, duration=time.monotonic() - started)
    return render(stats, pools, databases, up=True, duration=time.monotonic() - started)


class CachedScrape:
    """One scrape at a time through ``runner``, its answer reused for ``ttl`` seconds."""

    def __init__(self, runner: Runner, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._runner = runner
        self._ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: str | None = None
        self._taken = 0.0
        self.scrapes = 0

    def __call__(self) -> str:
        with self._lock:
            if self._answer is None or self._clock() - self._taken >= self._ttl:
                self._answer = scrape(self._runner)
                self._taken = self._clock()
                self.scrapes += 1
            return self._answer


def psql_runner(*, port: int, user: str, socket_dir: str, timeout: float) -> Runner:
    """A runner that asks the admin console with ``psql``; raises ``AgentError`` naming what failed."""
    console = psql.Psql(psql.local, port=port, socket_dir=socket_dir, timeout=timeout)
    return lambda command: console.console(command, user)


class _ThreadingHTTPServerV6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(
    listen: tuple[str, int],
    runner: Runner,
    *,
    cache_seconds: float = 1.0,
    max_requests: int = 4,
    request_timeout: float = 10.0,
) -> ThreadingHTTPServer:
    """An HTTP server bound to ``listen`` that answers ``GET /metrics`` (not yet serving): one
    scrape at a time, reused for ``cache_seconds``; at most ``max_requests`` served at once."""
    metrics = CachedScrape(runner, cache_seconds)
    slots = threading.BoundedSemaphore(max_requests)

    class Handler(BaseHTTPRequestHandler):
        server_version = "pigsalt-pgbouncer-exporter"
        timeout = request_timeout  # a client that sends nothing is dropped after this long

        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/metrics":
                self._reply(HTTPStatus.NOT_FOUND, "Not found: metrics are at /metrics\n", "text/plain; charset=utf-8")
                return
            if not slots.acquire(blocking=False):
                self._reply(
                    HTTPStatus.SERVICE_UNAVAILABLE, "Busy: too many requests at once\n", "text/plain; charset=utf-8"
                )
                return
            try:
                self._reply(HTTPStatus.OK, metrics(), CONTENT_TYPE)
            finally:
                slots.release()

        def _reply(self, status: HTTPStatus, text: str, content_type: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Not logged: Prometheus asks every few seconds. Errors still go to stderr (``log_error``)."""

    host, port = listen
    server_class = _ThreadingHTTPServerV6 if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), Handler)
    server.metrics = metrics  # type: ignore[attr-defined]  # for tests: how many scrapes ran
    return server


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[::]:9631`` for IPv6) as a (host, port) pair."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ADDR:PORT, e.g. 0.0.0.0:9631 or [::]:9631")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pigsalt.agent.pgbouncer_exporter",
        description="Serve Pgbouncer's SHOW STATS, POOLS and DATABASES as Prometheus metrics on /metrics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--listen", type=parse_listen, default="0.0.0.0:9631", metavar="ADDR:PORT", help="where to serve /metrics"
    )
    parser.add_argument("--pgbouncer-port", type=int, default=6432, help="Pgbouncer's port (names its Unix socket)")
    parser.add_argument("--socket-dir", default="/var/run/postgresql", help="directory of Pgbouncer's Unix socket")
    parser.add_argument("--user", default="postgres", help="admin user, logged in by peer: run as that OS user")
    parser.add_argument("--timeout", type=seconds, default=5.0, help="seconds allowed for each psql command")
    parser.add_argument(
        "--cache-seconds", type=seconds, default=1.0, help="seconds one scrape's answer serves every request"
    )
    parser.add_argument("--max-requests", type=count, default=4, help="requests served at once; more get 503")
    parser.add_argument(
        "--request-timeout", type=seconds, default=10.0, help="seconds a client gets to send its request"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="pgbouncer_exporter: %(levelname)s: %(message)s")
    host, port = args.listen
    runner = psql_runner(port=args.pgbouncer_port, user=args.user, socket_dir=args.socket_dir, timeout=args.timeout)
    try:
        server = serve(
            (host, port),
            runner,
            cache_seconds=args.cache_seconds,
            max_requests=args.max_requests,
            request_timeout=args.request_timeout,
        )
    except OSError as err:
        log.error("cannot listen on %s port %d: %s", host or "*", port, err)
        return 1
    log.info(
        "serving /metrics on %s port %d (Pgbouncer port %d, socket %s, user %s)",
        host or "*",
        server.server_address[1],
        args.pgbouncer_port,
        args.socket_dir,
        args.user,
    )
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
