"""``pigsalt.agent.pgbouncer_exporter``: the exposition text, the scrape, the HTTP server and the psql runner."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.agent import AgentError, psql
from pigsalt.agent.pgbouncer import parse_csv
from pigsalt.agent.pgbouncer_exporter import (
    CONTENT_TYPE,
    CachedScrape,
    Runner,
    main,
    parse_listen,
    psql_runner,
    render,
    scrape,
    serve,
)

# psql --csv of the three SHOW commands on Pgbouncer 1.18 (Debian bookworm).
STATS_CSV = (
    "database,total_xact_count,total_query_count,total_received,total_sent,total_xact_time,total_query_time,"
    "total_wait_time,avg_xact_count,avg_query_count,avg_recv,avg_sent,avg_xact_time,avg_query_time,avg_wait_time\n"
    "meta,1520,4810,912345,2345678,3456789,2345678,12500,2,6,120,310,2274,487,8\n"
    "pgbouncer,3,3,0,0,0,0,0,0,0,0,0,0,0,0\n"
)
POOLS_CSV = (
    "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,sv_active_cancel,"
    "sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode\n"
    "meta,dbuser_meta,5,2,0,0,3,0,0,1,4,1,1,2,500000,transaction\n"
    "pgbouncer,pgbouncer,1,0,0,0,0,0,0,0,0,0,0,0,0,statement\n"
)
DATABASES_CSV = (
    "name,host,port,database,force_user,pool_size,min_pool_size,reserve_pool,pool_mode,max_connections,"
    "current_connections,paused,disabled\n"
    "meta,/var/run/postgresql,5432,meta,,20,0,0,transaction,100,5,0,0\n"
    "pgbouncer,,6432,pgbouncer,pgbouncer,2,0,0,statement,0,0,1,0\n"
)
ANSWERS = {"SHOW STATS": STATS_CSV, "SHOW POOLS": POOLS_CSV, "SHOW DATABASES": DATABASES_CSV}

EXPECTED = """\
# HELP pgbouncer_up 1 if Pgbouncer's admin console answered, else 0.
# TYPE pgbouncer_up gauge
pgbouncer_up 1
# HELP pgbouncer_scrape_duration_seconds How long asking Pgbouncer took.
# TYPE pgbouncer_scrape_duration_seconds gauge
pgbouncer_scrape_duration_seconds 0.025
# HELP pgbouncer_stats_sql_transactions_pooled_total SQL transactions pooled by Pgbouncer.
# TYPE pgbouncer_stats_sql_transactions_pooled_total counter
pgbouncer_stats_sql_transactions_pooled_total{database="meta"} 1520
pgbouncer_stats_sql_transactions_pooled_total{database="pgbouncer"} 3
# HELP pgbouncer_stats_queries_pooled_total SQL queries pooled by Pgbouncer.
# TYPE pgbouncer_stats_queries_pooled_total counter
pgbouncer_stats_queries_pooled_total{database="meta"} 4810
pgbouncer_stats_queries_pooled_total{database="pgbouncer"} 3
# HELP pgbouncer_stats_received_bytes_total Bytes received from clients.
# TYPE pgbouncer_stats_received_bytes_total counter
pgbouncer_stats_received_bytes_total{database="meta"} 912345
pgbouncer_stats_received_bytes_total{database="pgbouncer"} 0
# HELP pgbouncer_stats_sent_bytes_total Bytes sent to clients.
# TYPE pgbouncer_stats_sent_bytes_total counter
pgbouncer_stats_sent_bytes_total{database="meta"} 2345678
pgbouncer_stats_sent_bytes_total{database="pgbouncer"} 0
# HELP pgbouncer_stats_sql_transactions_duration_seconds_total Time spent in transactions, while connected to a server.
# TYPE pgbouncer_stats_sql_transactions_duration_seconds_total counter
pgbouncer_stats_sql_transactions_duration_seconds_total{database="meta"} 3.456789
pgbouncer_stats_sql_transactions_duration_seconds_total{database="pgbouncer"} 0
# HELP pgbouncer_stats_queries_duration_seconds_total Time spent in queries, while connected to a server.
# TYPE pgbouncer_stats_queries_duration_seconds_total counter
pgbouncer_stats_queries_duration_seconds_total{database="meta"} 2.345678
pgbouncer_stats_queries_duration_seconds_total{database="pgbouncer"} 0
# HELP pgbouncer_stats_client_wait_seconds_total Time clients spent waiting for a server.
# TYPE pgbouncer_stats_client_wait_seconds_total counter
pgbouncer_stats_client_wait_seconds_total{database="meta"} 0.0125
pgbouncer_stats_client_wait_seconds_total{database="pgbouncer"} 0
# HELP pgbouncer_pools_client_active_connections Client connections linked to a server connection or idle with no \
queries waiting.
# TYPE pgbouncer_pools_client_active_connections gauge
pgbouncer_pools_client_active_connections{database="meta",user="dbuser_meta"} 5
pgbouncer_pools_client_active_connections{database="pgbouncer",user="pgbouncer"} 1
# HELP pgbouncer_pools_client_waiting_connections Client connections that sent queries and wait for a server \
connection.
# TYPE pgbouncer_pools_client_waiting_connections gauge
pgbouncer_pools_client_waiting_connections{database="meta",user="dbuser_meta"} 2
pgbouncer_pools_client_waiting_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_server_active_connections Server connections linked to a client.
# TYPE pgbouncer_pools_server_active_connections gauge
pgbouncer_pools_server_active_connections{database="meta",user="dbuser_meta"} 3
pgbouncer_pools_server_active_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_server_idle_connections Server connections unused and ready for a client query.
# TYPE pgbouncer_pools_server_idle_connections gauge
pgbouncer_pools_server_idle_connections{database="meta",user="dbuser_meta"} 1
pgbouncer_pools_server_idle_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_server_used_connections Server connections idle for longer than server_check_delay, to be \
checked before use.
# TYPE pgbouncer_pools_server_used_connections gauge
pgbouncer_pools_server_used_connections{database="meta",user="dbuser_meta"} 4
pgbouncer_pools_server_used_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_server_testing_connections Server connections running server_reset_query or server_check_query.
# TYPE pgbouncer_pools_server_testing_connections gauge
pgbouncer_pools_server_testing_connections{database="meta",user="dbuser_meta"} 1
pgbouncer_pools_server_testing_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_server_login_connections Server connections in the middle of logging in.
# TYPE pgbouncer_pools_server_login_connections gauge
pgbouncer_pools_server_login_connections{database="meta",user="dbuser_meta"} 1
pgbouncer_pools_server_login_connections{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_pools_client_maxwait_seconds How long the oldest waiting client has waited.
# TYPE pgbouncer_pools_client_maxwait_seconds gauge
pgbouncer_pools_client_maxwait_seconds{database="meta",user="dbuser_meta"} 2.5
pgbouncer_pools_client_maxwait_seconds{database="pgbouncer",user="pgbouncer"} 0
# HELP pgbouncer_databases_pool_size Maximum number of server connections.
# TYPE pgbouncer_databases_pool_size gauge
pgbouncer_databases_pool_size{database="meta"} 20
pgbouncer_databases_pool_size{database="pgbouncer"} 2
# HELP pgbouncer_databases_max_connections Maximum number of allowed server connections.
# TYPE pgbouncer_databases_max_connections gauge
pgbouncer_databases_max_connections{database="meta"} 100
pgbouncer_databases_max_connections{database="pgbouncer"} 0
# HELP pgbouncer_databases_current_connections Current number of server connections.
# TYPE pgbouncer_databases_current_connections gauge
pgbouncer_databases_current_connections{database="meta"} 5
pgbouncer_databases_current_connections{database="pgbouncer"} 0
# HELP pgbouncer_databases_paused 1 if this database is paused, else 0.
# TYPE pgbouncer_databases_paused gauge
pgbouncer_databases_paused{database="meta"} 0
pgbouncer_databases_paused{database="pgbouncer"} 1
# HELP pgbouncer_databases_disabled 1 if this database is disabled, else 0.
# TYPE pgbouncer_databases_disabled gauge
pgbouncer_databases_disabled{database="meta"} 0
pgbouncer_databases_disabled{database="pgbouncer"} 0
"""


def fake_runner(answers: dict[str, str]) -> Runner:
    def run(command: str) -> str:
        return answers[command]

    return run


def failing_runner(command: str) -> str:
    raise AgentError(f"psql {command!r}: connection to server on socket failed: No such file or directory")


def without_duration(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("pgbouncer_scrape_duration_seconds "))


# render


def test_render_pgbouncer_1_18() -> None:
    out = render(parse_csv(STATS_CSV), parse_csv(POOLS_CSV), parse_csv(DATABASES_CSV), up=True, duration=0.025)

    assert out == EXPECTED


def test_render_down_has_only_up_and_duration() -> None:
    rows = parse_csv(STATS_CSV)

    assert render(rows, rows, rows, up=False, duration=5.0) == (
        "# HELP pgbouncer_up 1 if Pgbouncer's admin console answered, else 0.\n"
        "# TYPE pgbouncer_up gauge\n"
        "pgbouncer_up 0\n"
        "# HELP pgbouncer_scrape_duration_seconds How long asking Pgbouncer took.\n"
        "# TYPE pgbouncer_scrape_duration_seconds gauge\n"
        "pgbouncer_scrape_duration_seconds 5\n"
    )


def test_render_skips_missing_columns_of_other_versions() -> None:
    # Pgbouncer 1.7's SHOW STATS (what Debian's exporter 1.7 expects) and a SHOW POOLS without maxwait_us.
    stats = parse_csv(
        "database,total_requests,total_received,total_sent,total_query_time,avg_req,avg_recv,avg_sent,avg_query\n"
        "meta,42,1000,2000,1500000,0,0,0,0\n"
    )
    pools = parse_csv("database,user,cl_active,maxwait\nmeta,dbuser_meta,3,7\n")

    out = render(stats, pools, [], up=True, duration=0.5)

    assert [line for line in out.splitlines() if not line.startswith("#")] == [
        "pgbouncer_up 1",
        "pgbouncer_scrape_duration_seconds 0.5",
        'pgbouncer_stats_received_bytes_total{database="meta"} 1000',
        'pgbouncer_stats_sent_bytes_total{database="meta"} 2000',
        'pgbouncer_stats_queries_duration_seconds_total{database="meta"} 1.5',
        'pgbouncer_pools_client_active_connections{database="meta",user="dbuser_meta"} 3',
        'pgbouncer_pools_client_maxwait_seconds{database="meta",user="dbuser_meta"} 7',
    ]
    assert "# HELP pgbouncer_stats_sql_transactions_pooled_total" not in out
    assert "pgbouncer_databases_" not in out


def test_render_skips_empty_and_non_numeric_values() -> None:
    databases = parse_csv(
        "name,pool_size,max_connections,current_connections,paused,disabled\n"
        "meta,,100,x,0\n"  # a short row: csv gives None for `disabled`
    )

    out = render([], [], databases, up=True, duration=0.0)

    assert [line for line in out.splitlines() if not line.startswith("#")] == [
        "pgbouncer_up 1",
        "pgbouncer_scrape_duration_seconds 0",
        'pgbouncer_databases_max_connections{database="meta"} 100',
        'pgbouncer_databases_paused{database="meta"} 0',
    ]


def test_render_escapes_label_values() -> None:
    pools = [{"database": 'we"ird\\db\nname', "user": "u", "cl_active": "1"}]

    out = render([], pools, [], up=True, duration=0.0)

    assert (
        out.splitlines()[-1] == 'pgbouncer_pools_client_active_connections{database="we\\"ird\\\\db\\nname",user="u"} 1'
    )


# scrape


def test_scrape_asks_the_three_tables() -> None:
    asked: list[str] = []

    def runner(command: str) -> str:
        asked.append(command)
        return ANSWERS[command]

    out = scrape(runner)

    assert asked == ["SHOW STATS", "SHOW POOLS", "SHOW DATABASES"]
    assert without_duration(out) == without_duration(EXPECTED)


def test_scrape_failing_runner_is_down(caplog: pytest.LogCaptureFixture) -> None:
    out = scrape(failing_runner)

    assert next(line for line in out.splitlines() if not line.startswith("#")) == "pgbouncer_up 0"
    assert without_duration(out) == without_duration(render([], [], [], up=False, duration=0))
    assert caplog.messages == [
        "scrape failed: psql 'SHOW STATS': connection to server on socket failed: No such file or directory"
    ]


def test_scrape_one_failing_table_is_down() -> None:
    answers = {"SHOW STATS": STATS_CSV, "SHOW POOLS": POOLS_CSV}  # SHOW DATABASES raises KeyError

    out = scrape(fake_runner(answers))

    assert "pgbouncer_up 0\n" in out
    assert "pgbouncer_stats_" not in out


# The HTTP server


@pytest.fixture
def exporter() -> Iterator[str]:
    server = serve(("127.0.0.1", 0), fake_runner(ANSWERS))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_server_metrics(exporter: str, capfd: pytest.CaptureFixture[str]) -> None:
    with urllib.request.urlopen(f"{exporter}/metrics", timeout=5) as response:
        status, content_type, body = response.status, response.headers["Content-Type"], response.read().decode()

    assert (status, content_type) == (200, CONTENT_TYPE)
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert without_duration(body) == without_duration(EXPECTED)
    assert capfd.readouterr().err == ""  # requests are not logged


def test_server_other_paths_are_404(exporter: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{exporter}/", timeout=5)

    assert raised.value.code == 404
    assert raised.value.read() == b"Not found: metrics are at /metrics\n"
    raised.value.close()
    assert capfd.readouterr().err == ""


def test_server_failing_runner_still_answers() -> None:
    server = serve(("127.0.0.1", 0), failing_runner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics?from=prometheus"
        with urllib.request.urlopen(url, timeout=5) as response:
            status, body = response.status, response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    assert status == 200
    assert "\npgbouncer_up 0\n" in body


# Bounds: one scrape at a time, cached; a limit on requests served at once; slow clients dropped


def test_cached_scrape_reuses_one_answer_for_its_ttl() -> None:
    now = [100.0]
    asked: list[str] = []

    def runner(command: str) -> str:
        asked.append(command)
        return ANSWERS[command]

    cached = CachedScrape(runner, ttl=1.0, clock=lambda: now[0])
    first = cached()
    now[0] += 0.5
    assert cached() == first
    assert (cached.scrapes, len(asked)) == (1, 3)
    now[0] += 0.6
    cached()
    assert (cached.scrapes, len(asked)) == (2, 6)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as err:
        err.close()
        return int(err.code)


def test_a_burst_of_requests_runs_one_scrape_and_turns_the_excess_away() -> None:
    release = threading.Event()

    def slow(command: str) -> str:
        release.wait(10)
        return ANSWERS[command]

    server = serve(("127.0.0.1", 0), slow, cache_seconds=60, max_requests=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    statuses: list[int] = []
    try:
        clients = [threading.Thread(target=lambda: statuses.append(_get(url))) for _ in range(6)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 10
        while len(statuses) < 4 and time.monotonic() < deadline:  # the four beyond the limit: 503 at once
            time.sleep(0.05)
        assert sorted(statuses) == [503, 503, 503, 503]
        release.set()
        for client in clients:
            client.join(timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert sorted(statuses) == [200, 200, 503, 503, 503, 503]
    assert server.metrics.scrapes == 1  # type: ignore[attr-defined]


def test_a_client_that_sends_nothing_is_dropped() -> None:
    server = serve(("127.0.0.1", 0), fake_runner(ANSWERS), request_timeout=0.5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as silent:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the server
            assert time.monotonic() - started < 4
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# The psql runner, with a stand-in psql on PATH


@pytest.fixture
def fake_psql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``psql`` that records its arguments, answers SHOW STATS, fails otherwise (or sleeps on SHOW POOLS)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    psql = bindir / "psql"
    psql.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/argv\n'
        'case "$*" in\n'
        "  *'SHOW STATS'*) printf 'database,total_xact_count\\nmeta,7\\n' ;;\n"
        f"  *'SHOW POOLS'*) exec {shutil.which('sleep')} 10 ;;\n"
        "  *) echo 'psql: error: connection to server on socket \"/run/pg/.s.PGSQL.6432\" failed' >&2; exit 2 ;;\n"
        "esac\n"
    )
    psql.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    return tmp_path


def test_psql_runner_runs_the_console_command(fake_psql: Path) -> None:
    run = psql_runner(port=6432, user="postgres", socket_dir="/run/pg", timeout=5)

    assert run("SHOW STATS") == "database,total_xact_count\nmeta,7\n"
    argv = psql.console_argv("SHOW STATS", port=6432, user="postgres", socket_dir="/run/pg")
    assert (fake_psql / "argv").read_text().splitlines() == argv[1:]


def test_psql_runner_failure(fake_psql: Path) -> None:
    run = psql_runner(port=6432, user="postgres", socket_dir="/run/pg", timeout=5)

    with pytest.raises(AgentError) as raised:
        run("SHOW DATABASES")

    assert str(raised.value) == (
        "psql 'SHOW DATABASES' on /run/pg port 6432 as postgres: "
        'psql: error: connection to server on socket "/run/pg/.s.PGSQL.6432" failed'
    )


def test_psql_runner_timeout(fake_psql: Path) -> None:
    run = psql_runner(port=6432, user="postgres", socket_dir="/run/pg", timeout=0.2)

    with pytest.raises(AgentError) as raised:
        run("SHOW POOLS")

    assert str(raised.value) == "psql 'SHOW POOLS' on /run/pg port 6432 as postgres: no answer within 0.2 s"


def test_psql_runner_without_psql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    run = psql_runner(port=6432, user="postgres", socket_dir="/run/pg", timeout=5)

    with pytest.raises(AgentError) as raised:
        run("SHOW STATS")

    assert (
        str(raised.value)
        == "psql 'SHOW STATS' on /run/pg port 6432 as postgres: psql is not installed (or not on PATH)"
    )


# The command line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:9631", ("0.0.0.0", 9631)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        (":9631", ("", 9631)),
        ("[::]:9631", ("::", 9631)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_main_rejects_a_bad_listen_address(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--listen", "9631"])

    assert raised.value.code == 2
    assert "argument --listen: '9631': expected ADDR:PORT, e.g. 0.0.0.0:9631 or [::]:9631" in capsys.readouterr().err


def test_main_port_in_use(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["--listen", f"127.0.0.1:{port}"]) == 1

    assert caplog.messages[0].startswith(f"cannot listen on 127.0.0.1 port {port}: ")
