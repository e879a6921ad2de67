"""``pigsalt.agent.fence``: the keeper's decisions with a recording ``nft``, the probe against a
loopback HTTP server. The kernel side (the lease running out in nftables) is in
tests/integration/test_fence_kernel.py."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent.fence import TABLE, Fence, Verdict, main, parse_ports, probe, ruleset, run


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.scripts: list[str] = []
        self.fail = fail

    def __call__(self, script: str) -> None:
        self.scripts.append(script)
        if self.fail:
            raise AgentError("nft: Operation not permitted")


def fence_with(verdicts: list[Verdict], nft: Recorder) -> Fence:
    answers = iter(verdicts)
    return Fence((5432, 6432), 9, lambda: next(answers), nft)


def test_a_confirmed_lock_renews_the_lease_and_guards_the_ports_in_one_transaction() -> None:
    nft = Recorder()
    fence = fence_with(["confirmed", "confirmed"], nft)
    fence.poll()
    fence.poll()
    assert len(nft.scripts) == 2
    assert nft.scripts[0] == (
        f"flush set inet {TABLE} lease\n"
        f"add element inet {TABLE} lease {{ 5432 timeout 9000ms, 6432 timeout 9000ms }}\n"
        f"add element inet {TABLE} guarded {{ 5432, 6432 }}\n"
    )
    assert fence.guarded


def test_an_unconfirmed_lock_renews_nothing_so_the_lease_runs_out(caplog: pytest.LogCaptureFixture) -> None:
    nft = Recorder()
    fence = fence_with(["confirmed", "unconfirmed", "unconfirmed", "unconfirmed"], nft)
    for _ in range(4):
        fence.poll()
    assert len(nft.scripts) == 1  # only the first confirmation touched the kernel
    assert fence.guarded
    warnings = [r for r in caplog.records if "does not confirm" in r.getMessage()]
    assert len(warnings) == 1  # logged when it starts, not at every poll


def test_a_demoted_member_is_unguarded_and_a_replica_never_guarded() -> None:
    nft = Recorder()
    fence = fence_with(["not-primary", "confirmed", "unconfirmed", "not-primary", "not-primary"], nft)
    fence.poll()
    assert nft.scripts == [] and not fence.guarded
    for _ in range(4):
        fence.poll()
    assert nft.scripts[-1] == f"flush set inet {TABLE} guarded\nflush set inet {TABLE} lease\n"
    assert len(nft.scripts) == 2
    assert not fence.guarded


def test_run_arms_an_empty_table_and_deletes_it_when_stopped() -> None:
    nft = Recorder()
    stop = threading.Event()

    def check() -> Verdict:
        stop.set()
        return "confirmed"

    run(Fence((5432,), 9, check, nft), 0.01, stop)
    assert nft.scripts[0] == ruleset()
    assert "add element" in nft.scripts[1]
    assert nft.scripts[-1] == f"table inet {TABLE}\ndelete table inet {TABLE}\n"


def test_a_failed_renewal_is_logged_and_the_keeper_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    polls = []
    stop = threading.Event()

    class Flaky(Recorder):
        def __call__(self, script: str) -> None:
            self.scripts.append(script)
            if script.startswith("flush set"):
                raise AgentError("nft: Could not process rule")

    def check() -> Verdict:
        polls.append(1)
        if len(polls) == 3:
            stop.set()
        return "confirmed"

    nft = Flaky()
    run(Fence((5432,), 9, check, nft), 0.01, stop)
    assert len(polls) == 3
    assert sum("Could not process rule" in r.getMessage() for r in caplog.records) == 3
    assert nft.scripts[-1].startswith(f"table inet {TABLE}\ndelete table")


def test_ruleset_drops_only_what_leaves_a_guarded_port_without_a_lease_for_another_host() -> None:
    text = ruleset()
    assert text.startswith(f"table inet {TABLE}\ndelete table inet {TABLE}\n")
    assert 'oifname "lo" accept' in text
    assert "tcp sport @guarded tcp sport != @lease counter drop" in text
    assert "flags timeout" in text


@pytest.mark.parametrize(
    ("text", "ports"),
    [("5432", (5432,)), ("6432,5432,5433,5432", (5432, 5433, 6432))],
)
def test_parse_ports(text: str, ports: tuple[int, ...]) -> None:
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", "5432,x", "0", "70000", ","])
def test_parse_ports_refuses(text: str) -> None:
    with pytest.raises(Exception, match="port"):
        parse_ports(text)


def test_an_interval_not_shorter_than_the_lease_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--patroni", "https://127.0.0.1:8008", "--ports", "5432", "--lease", "2", "--interval", "2"])
    assert exit_info.value.code == 2
    assert "--interval (2) must be shorter than --lease (2)" in capsys.readouterr().err


# --- the probe, against a loopback server answering as Patroni's /primary does --------------


@pytest.fixture
def patroni() -> Iterator[tuple[str, dict[str, object]]]:
    answer: dict[str, object] = {"status": 200, "body": b'{"role": "primary"}'}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answer["body"]
            assert isinstance(body, bytes)
            self.send_response(int(answer["status"]))  # type: ignore[call-overload]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/primary", answer
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, {"role": "primary", "state": "running"}, "confirmed"),
        # Patroni's answer on a primary whose leader lock has expired (its is_leader() is false).
        (503, {"role": "primary", "state": "running"}, "unconfirmed"),
        (503, {"role": "master", "state": "running"}, "unconfirmed"),
        (503, {"role": "replica", "state": "streaming"}, "not-primary"),
        (503, {"role": "demoted", "state": "stopped"}, "not-primary"),
        (503, {"state": "starting"}, "unconfirmed"),
        (503, "not json", "unconfirmed"),
    ],
)
def test_probe_reads_patronis_answer(
    patroni: tuple[str, dict[str, object]], status: int, body: object, verdict: Verdict
) -> None:
    url, answer = patroni
    answer["status"] = status
    answer["body"] = (body if isinstance(body, str) else json.dumps(body)).encode()
    assert probe(url, timeout=5)() == verdict


def test_probe_without_an_answer_is_unconfirmed_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    poll = probe("http://127.0.0.1:9/primary", timeout=1)
    assert poll() == "unconfirmed"
    assert poll() == "unconfirmed"
    assert sum("GET http://127.0.0.1:9/primary" in r.getMessage() for r in caplog.records) == 1
