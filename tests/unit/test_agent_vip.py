"""``pigsalt.agent.vip``: the keeper's decisions with stand-ins, the probe against a loopback HTTP server.

No test sends an ARP or changes an interface: ``ip`` is a stand-in script on PATH and the
packet socket a recorder.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.agent import AgentError, vip
from pigsalt.agent.vip import (
    IpAddress,
    Keeper,
    PrimaryProbe,
    garp_frame,
    interface_mac,
    main,
    parse_address,
    parse_addresses,
    run_ip,
    send_garp,
)
from tests.certs import CertFiles, make_certs

VIP = ipaddress.IPv4Interface("10.10.10.3/24")
MAC = bytes.fromhex("525400a1b2c3")

# `ip -4 -o addr show dev host0` on a primary holding the VIP (the second address on the subnet
# is a secondary), as iproute2 6.1 on bookworm prints it.
IP_SHOW_HELD = (
    "2: host0    inet 10.10.10.11/24 brd 10.10.10.255 scope global host0\\"
    "       valid_lft forever preferred_lft forever\n"
    "2: host0    inet 10.10.10.3/24 scope global secondary host0\\"
    "       valid_lft forever preferred_lft forever\n"
)
IP_SHOW_FREE = IP_SHOW_HELD.splitlines(keepends=True)[0]


# The keeper's decisions


class Node:
    """The keeper's side effects as a record: Patroni's answers in turn, the address, the calls made."""

    def __init__(self, *answers: bool | None, present: bool = False, announce_fails: bool = False) -> None:
        self.answers = list(answers)
        self.has_address = present
        self.announce_fails = announce_fails
        self.calls: list[str] = []

    def probe(self) -> bool | None:
        return self.answers.pop(0)

    def present(self) -> bool:
        return self.has_address

    def add(self) -> None:
        assert not self.has_address
        self.calls.append("add")
        self.has_address = True

    def remove(self) -> None:
        assert self.has_address
        self.calls.append("remove")
        self.has_address = False

    def announce(self) -> None:
        self.calls.append("announce")
        if self.announce_fails:
            raise AgentError("reading /sys/class/net/host0/address: no such file or directory")

    def keeper(self, release_after: int = 2) -> Keeper:
        return Keeper(
            self.probe,
            self.present,
            self.add,
            self.remove,
            self.announce,
            release_after=release_after,
            name="10.10.10.3/24 on host0",
        )


def steps(node: Node, keeper: Keeper) -> list[str | None]:
    return [keeper.step() for _ in range(len(node.answers))]


def test_acquires_on_the_first_200_and_announces(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(True)
    caplog.set_level(logging.INFO)

    assert steps(node, node.keeper()) == ["acquired"]
    assert node.calls == ["add", "announce"]
    assert caplog.messages == ["acquired 10.10.10.3/24 on host0: Patroni answers 200 on /primary"]


def test_no_add_and_no_announce_when_already_present(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(True, True, True, present=True)
    caplog.set_level(logging.INFO)

    assert steps(node, node.keeper()) == [None, None, None]
    assert node.calls == []
    assert caplog.messages == []


def test_announces_only_after_an_add() -> None:
    node = Node(True, True, False, False, True, True)

    assert steps(node, node.keeper()) == ["acquired", None, None, "released", "acquired", None]
    assert node.calls == ["add", "announce", "remove", "add", "announce"]


def test_releases_after_two_misses_in_a_row_not_before(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(False, False, False, present=True)
    caplog.set_level(logging.INFO)

    assert steps(node, node.keeper()) == [None, "released", None]
    assert node.calls == ["remove"]
    assert caplog.messages == [
        "released 10.10.10.3/24 on host0: no 200 from Patroni on /primary in 2 answers in a row (last: not primary)"
    ]


def test_a_200_between_misses_resets_the_count() -> None:
    node = Node(True, False, True, False, True, False, False, present=True)

    assert steps(node, node.keeper()) == [None, None, None, None, None, None, "released"]
    assert node.calls == ["remove"]


def test_release_after_three() -> None:
    node = Node(False, False, False, False, present=True)

    assert steps(node, node.keeper(release_after=3)) == [None, None, "released", None]


def test_release_after_one() -> None:
    node = Node(None, present=True)

    assert steps(node, node.keeper(release_after=1)) == ["released"]


def test_unreachable_counts_as_a_miss(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(None, False, True, None, None, present=True)
    caplog.set_level(logging.INFO)

    assert steps(node, node.keeper()) == [None, "released", "acquired", None, "released"]
    assert node.calls == ["remove", "add", "announce", "remove"]
    assert caplog.messages == [
        "released 10.10.10.3/24 on host0: no 200 from Patroni on /primary in 2 answers in a row (last: not primary)",
        "acquired 10.10.10.3/24 on host0: Patroni answers 200 on /primary",
        "released 10.10.10.3/24 on host0: "
        "no 200 from Patroni on /primary in 2 answers in a row (last: Patroni unreachable)",
    ]


def test_misses_on_a_replica_without_the_address_change_nothing() -> None:
    node = Node(False, False, None, False)

    assert steps(node, node.keeper()) == [None, None, None, None]
    assert node.calls == []


def test_a_failed_announce_is_logged_and_the_address_kept(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(True, True, announce_fails=True)
    caplog.set_level(logging.INFO)

    assert steps(node, node.keeper()) == ["acquired", None]
    assert node.calls == ["add", "announce"]
    assert node.has_address
    assert caplog.messages == [
        "acquired 10.10.10.3/24 on host0: Patroni answers 200 on /primary",
        "10.10.10.3/24 on host0 is up, but not announced: "
        "reading /sys/class/net/host0/address: no such file or directory",
    ]


def test_release_after_must_be_positive() -> None:
    node = Node()

    with pytest.raises(ValueError, match="release_after must be at least 1, not 0"):
        node.keeper(release_after=0)


def test_shutdown_releases_when_held(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(True)
    keeper = node.keeper()
    caplog.set_level(logging.INFO)
    keeper.step()
    caplog.clear()

    assert keeper.shutdown() == "released"
    assert node.calls == ["add", "announce", "remove"]
    assert caplog.messages == ["released 10.10.10.3/24 on host0: the keeper is stopping"]


def test_shutdown_without_the_address_does_nothing() -> None:
    node = Node()

    assert node.keeper().shutdown() is None
    assert node.calls == []


def test_run_steps_until_stopped_and_logs_a_repeated_failure_once(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    answers = [True, True, True, True]
    failures = iter(["RTNETLINK answers: Operation not permitted"] * 2 + [None, None])

    def probe() -> bool:
        if len(answers) == 1:
            stop.set()
        return answers.pop()

    def add() -> None:
        failure = next(failures)
        if failure:
            raise AgentError(f"ip addr add 10.10.10.3/24 dev host0: {failure}")

    present = iter([False, False, False, True])
    keeper = Keeper(probe, lambda: next(present), add, lambda: None, lambda: None, name="the VIP")
    caplog.set_level(logging.INFO)

    keeper.run(stop, 0)

    assert answers == []
    assert caplog.messages == [
        "ip addr add 10.10.10.3/24 dev host0: RTNETLINK answers: Operation not permitted",
        "acquired the VIP: Patroni answers 200 on /primary",
    ]


# The gratuitous ARP


def test_garp_frame_bytes() -> None:
    frame = garp_frame(MAC, "10.10.10.3")

    assert len(frame) == 42
    assert frame == bytes.fromhex(
        "ffffffffffff"  # destination: broadcast
        "525400a1b2c3"  # source: the interface
        "0806"  # ethertype ARP
        "0001"  # hardware type Ethernet
        "0800"  # protocol type IPv4
        "06"  # hardware address length
        "04"  # protocol address length
        "0001"  # operation: request
        "525400a1b2c3"  # sender hardware address
        "0a0a0a03"  # sender protocol address: the VIP
        "000000000000"  # target hardware address: unknown
        "0a0a0a03"  # target protocol address: the VIP again
    )


def test_garp_frame_rejects_a_short_mac_and_a_bad_address() -> None:
    with pytest.raises(ValueError, match="a MAC address is 6 bytes, not 5"):
        garp_frame(MAC[:5], "10.10.10.3")
    with pytest.raises(ValueError):
        garp_frame(MAC, "10.10.10.300")


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    (tmp_path / "host0").mkdir()
    (tmp_path / "host0" / "address").write_text("52:54:00:A1:b2:c3\n")
    (tmp_path / "bad0").mkdir()
    (tmp_path / "bad0" / "address").write_text("52:54:00:a1:b2\n")
    return tmp_path


def test_interface_mac(sysfs: Path) -> None:
    assert interface_mac("host0", sysfs) == MAC


def test_interface_mac_errors(sysfs: Path) -> None:
    with pytest.raises(AgentError) as raised:
        interface_mac("nope0", sysfs)
    assert str(raised.value) == f"reading {sysfs}/nope0/address: no such file or directory"

    with pytest.raises(AgentError) as raised:
        interface_mac("bad0", sysfs)
    assert str(raised.value) == f"{sysfs}/bad0/address: '52:54:00:a1:b2' is not an Ethernet address"


class RecordingSocket:
    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[object] = []
        self.fail_on = fail_on

    def bind(self, address: tuple[str, int], /) -> None:
        self.events.append(("bind", address))
        if self.fail_on == "bind":
            raise OSError(19, "No such device")

    def send(self, data: bytes, /) -> int:
        self.events.append(("send", data))
        return len(data)

    def close(self) -> None:
        self.events.append("close")


def test_send_garp_sends_three_frames_on_the_interface(sysfs: Path) -> None:
    sock = RecordingSocket()
    slept: list[float] = []

    send_garp("host0", "10.10.10.3", sysfs=sysfs, open_socket=lambda: sock, sleep=slept.append)

    frame = garp_frame(MAC, "10.10.10.3")
    assert sock.events == [("bind", ("host0", 0)), ("send", frame), ("send", frame), ("send", frame), "close"]
    assert slept == [0.2, 0.2]


def test_send_garp_failure_is_an_agent_error(sysfs: Path) -> None:
    sock = RecordingSocket(fail_on="bind")

    with pytest.raises(AgentError) as raised:
        send_garp("host0", "10.10.10.3", sysfs=sysfs, open_socket=lambda: sock, sleep=lambda _: None)

    assert str(raised.value) == "gratuitous ARP for 10.10.10.3 on host0: no such device"
    assert sock.events == [("bind", ("host0", 0)), "close"]


def test_send_garp_without_permission(sysfs: Path) -> None:
    def refuse() -> RecordingSocket:
        raise PermissionError(1, "Operation not permitted")

    with pytest.raises(AgentError) as raised:
        send_garp("host0", "10.10.10.3", sysfs=sysfs, open_socket=refuse)

    assert str(raised.value) == "gratuitous ARP for 10.10.10.3 on host0: operation not permitted"


# Reading and changing the address


def test_parse_addresses() -> None:
    assert parse_addresses(IP_SHOW_HELD) == [
        ipaddress.IPv4Interface("10.10.10.11/24"),
        ipaddress.IPv4Interface("10.10.10.3/24"),
    ]


def test_parse_addresses_peer_label_and_nothing() -> None:
    output = (
        "7: tun0    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\\       valid_lft forever preferred_lft forever\n"
        "2: host0    inet 10.10.10.3/32 scope global host0:vip\\       valid_lft forever preferred_lft forever\n"
    )

    assert parse_addresses(output) == [
        ipaddress.IPv4Interface("10.8.0.1/32"),
        ipaddress.IPv4Interface("10.10.10.3/32"),
    ]
    assert parse_addresses("") == []


def test_parse_addresses_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"'10\.10\.10\.999/24' is not an IPv4 address"):
        parse_addresses("2: host0    inet 10.10.10.999/24 scope global host0\n")


class FakeIp:
    def __init__(self, output: str) -> None:
        self.output = output
        self.argvs: list[list[str]] = []

    def __call__(self, args: object) -> str:
        assert isinstance(args, list)
        self.argvs.append(args)
        return self.output


@pytest.mark.parametrize(
    ("output", "address", "expected"),
    [
        (IP_SHOW_HELD, VIP, True),
        (IP_SHOW_FREE, VIP, False),
        # The same address with another prefix length is someone else's, not ours.
        (IP_SHOW_HELD, ipaddress.IPv4Interface("10.10.10.3/32"), False),
        ("", VIP, False),
    ],
)
def test_present(output: str, address: ipaddress.IPv4Interface, expected: bool) -> None:
    run = FakeIp(output)

    assert IpAddress(address, "host0", run).present() is expected
    assert run.argvs == [["-4", "-o", "addr", "show", "dev", "host0"]]


def test_present_with_unexpected_output() -> None:
    with pytest.raises(AgentError) as raised:
        IpAddress(VIP, "host0", FakeIp("2: host0    inet\n")).present()

    assert str(raised.value) == (
        "ip -4 -o addr show dev host0: unexpected output: no address after 'inet' in '2: host0    inet'"
    )


def test_add_and_remove() -> None:
    run = FakeIp("")
    address = IpAddress(VIP, "host0", run)

    address.add()
    address.remove()

    assert run.argvs == [
        ["addr", "add", "10.10.10.3/24", "dev", "host0"],
        ["addr", "del", "10.10.10.3/24", "dev", "host0"],
    ]


@pytest.fixture
def fake_ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``ip`` on PATH that keeps the VIP in a file: ``add`` writes it, ``del`` removes it, ``show`` lists it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    state = tmp_path / "held"
    cat, rm = shutil.which("cat"), shutil.which("rm")
    script = bindir / "ip"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {tmp_path}/log\n'
        'case "$*" in\n'
        f"  '-4 -o addr show dev host0') printf '%s\\n' '{IP_SHOW_FREE.strip()}'; "
        f"[ -e {state} ] && {cat} {state}; exit 0 ;;\n"
        f"  'addr add 10.10.10.3/24 dev host0') "
        f"printf '%s\\n' '2: host0    inet 10.10.10.3/24 scope global secondary host0' > {state} ;;\n"
        f"  'addr del 10.10.10.3/24 dev host0') {rm} {state} ;;\n"
        '  *) echo \'Error: either "local" is duplicate, or "nope" is a garbage.\' >&2; exit 1 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    return tmp_path


def test_run_ip_with_a_stand_in(fake_ip: Path) -> None:
    address = IpAddress(VIP, "host0")

    assert address.present() is False
    address.add()
    assert address.present() is True
    address.remove()
    assert address.present() is False
    assert (fake_ip / "log").read_text().splitlines() == [
        "-4 -o addr show dev host0",
        "addr add 10.10.10.3/24 dev host0",
        "-4 -o addr show dev host0",
        "addr del 10.10.10.3/24 dev host0",
        "-4 -o addr show dev host0",
    ]


def test_run_ip_failure(fake_ip: Path) -> None:
    with pytest.raises(AgentError) as raised:
        run_ip(["addr", "add", "nope"])

    assert str(raised.value) == 'ip addr add nope: Error: either "local" is duplicate, or "nope" is a garbage.'


def test_run_ip_without_ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(AgentError) as raised:
        run_ip(["-4", "-o", "addr", "show", "dev", "host0"])

    assert str(raised.value) == "ip -4 -o addr show dev host0: ip is not installed (or not on PATH)"


# Asking Patroni


# A dynamic configuration as Patroni 4 returns it on GET /config, before any upgrade.
DYNAMIC_CONFIG: dict[str, object] = {
    "ttl": 30,
    "loop_wait": 10,
    "retry_timeout": 10,
    "maximum_lag_on_failover": 1048576,
    "postgresql": {"use_pg_rewind": True, "parameters": {"max_connections": 100}},
}


HANG_UP = object()


class FakePatroni(http.server.ThreadingHTTPServer):
    """``/primary`` answering the given statuses in turn (the last one repeats), ``/config``; other paths 404.

    ``config`` is served as JSON with ``config_status``; bytes are served as they are, and
    ``HANG_UP`` closes the connection without an answer.
    """

    daemon_threads = True

    def __init__(self, tls: CertFiles | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls is not None:
            self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.statuses = [200]
        self.config: object = DYNAMIC_CONFIG
        self.config_status = 200
        self.paths: list[str] = []
        self.on_request: list[object] = []

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakePatroni

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        for action in self.server.on_request:
            assert callable(action)
            action()
        body = b'{"state": "running", "role": "primary"}'
        if self.path == "/primary":
            status = self.server.next_status()
        elif self.path == "/config":
            status = self.server.config_status
            config = self.server.config
            if config is HANG_UP:
                return
            body = config if isinstance(config, bytes) else json.dumps(config).encode()
        else:
            status = 404
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/primary")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def patroni() -> Iterator[FakePatroni]:
    server = FakePatroni()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_probe_200_then_503(patroni: FakePatroni) -> None:
    patroni.statuses = [200, 503]
    probe = PrimaryProbe(patroni.url + "/", timeout=5)

    assert [probe(), probe(), probe()] == [True, False, False]
    assert patroni.paths == ["/primary", "/config", "/primary", "/primary"]


def test_probe_does_not_follow_a_redirect(patroni: FakePatroni) -> None:
    patroni.statuses = [302, 200]

    assert PrimaryProbe(patroni.url, timeout=5)() is False
    assert patroni.paths == ["/primary"]


def test_probe_other_2xx_is_not_primary(patroni: FakePatroni) -> None:
    patroni.statuses = [204]

    assert PrimaryProbe(patroni.url, timeout=5)() is False


def test_probe_over_https_verifies_the_ca(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    certs = make_certs(tmp_path / "ok")
    other = make_certs(tmp_path / "other")
    server = FakePatroni(tls=certs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert PrimaryProbe(server.url, timeout=5, cafile=str(certs.ca))() is True
        # Signed by another CA: unreadable, never primary.
        assert PrimaryProbe(server.url, timeout=5, cafile=str(other.ca))() is None
        assert "certificate verify failed" in caplog.messages[-1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probe_unreachable_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    probe = PrimaryProbe(url, timeout=5)

    assert [probe(), probe()] == [None, None]
    assert caplog.messages == [f"GET {url}/primary: connection refused"]


def test_probe_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        assert PrimaryProbe(url, timeout=0.2)() is None


# The upgrade gate: Patroni's dynamic config


@pytest.mark.parametrize(
    ("await_grant", "gate", "expected"),
    [
        (False, {}, True),
        (False, {"pigsalt_vip": "released"}, False),
        (False, {"pigsalt_vip": "granted"}, True),
        (True, {}, False),
        (True, {"pigsalt_vip": "released"}, False),
        (True, {"pigsalt_vip": "granted"}, True),
    ],
)
def test_probe_gate(patroni: FakePatroni, await_grant: bool, gate: dict[str, str], expected: bool) -> None:
    patroni.config = {**DYNAMIC_CONFIG, **gate}

    assert PrimaryProbe(patroni.url, timeout=5, await_grant=await_grant)() is expected
    assert patroni.paths == ["/primary", "/config"]


@pytest.mark.parametrize("await_grant", [False, True])
def test_probe_on_a_replica_does_not_read_the_config(patroni: FakePatroni, await_grant: bool) -> None:
    patroni.statuses = [503]
    patroni.config = {**DYNAMIC_CONFIG, "pigsalt_vip": "granted"}
    probe = PrimaryProbe(patroni.url, timeout=5, await_grant=await_grant)

    assert [probe(), probe()] == [False, False]
    assert probe.held_back is None
    assert patroni.paths == ["/primary", "/primary"]


@pytest.mark.parametrize(
    ("status", "config", "failure"),
    [
        (500, {"error": "boom"}, "HTTP 500"),
        (502, b"", "HTTP 502"),
        (200, b"<html>not json</html>", "answer is not JSON: b'<html>not json</html>'"),
        (200, ["pigsalt_vip", "granted"], "answer is not a JSON object"),
    ],
)
def test_probe_unreadable_config_is_unreachable_and_logged_once(
    patroni: FakePatroni, status: int, config: object, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    patroni.config_status = status
    patroni.config = config
    probe = PrimaryProbe(patroni.url, timeout=5)

    assert [probe(), probe()] == [None, None]
    assert probe.held_back == "Patroni answers 200 on /primary, but its dynamic config cannot be read"
    assert caplog.messages == [f"GET {patroni.url}/config: {failure}"]


def test_probe_config_unanswered(patroni: FakePatroni, caplog: pytest.LogCaptureFixture) -> None:
    patroni.config = HANG_UP
    probe = PrimaryProbe(patroni.url, timeout=5)

    assert [probe(), probe()] == [None, None]
    assert caplog.messages == [f"GET {patroni.url}/config: Remote end closed connection without response"]

    # Readable again: the next failure is news, and logged.
    patroni.config = DYNAMIC_CONFIG
    assert probe() is True
    patroni.config = HANG_UP
    assert probe() is None
    assert len(caplog.messages) == 2


def test_probe_logs_being_held_back_once(patroni: FakePatroni, caplog: pytest.LogCaptureFixture) -> None:
    patroni.config = {**DYNAMIC_CONFIG, "pigsalt_vip": "released"}
    probe = PrimaryProbe(patroni.url, timeout=5)
    caplog.set_level(logging.INFO)

    assert [probe(), probe(), probe()] == [False, False, False]
    assert probe.held_back == "Patroni's dynamic config says pigsalt_vip: released"
    assert caplog.messages == [
        "held back although Patroni answers 200 on /primary: Patroni's dynamic config says pigsalt_vip: released"
    ]

    # Granted again (a cutover rolled back), then released again: a new episode, logged again.
    patroni.config = DYNAMIC_CONFIG
    assert probe() is True
    assert probe.held_back is None
    patroni.config = {**DYNAMIC_CONFIG, "pigsalt_vip": "released"}
    assert probe() is False
    assert len(caplog.messages) == 2


@pytest.mark.parametrize(
    ("gate", "held_back"),
    [
        ({}, "waiting for the upgrade cutover to grant it (Patroni's dynamic config has no pigsalt_vip)"),
        (
            {"pigsalt_vip": "released"},
            "waiting for the upgrade cutover to grant it (Patroni's dynamic config says pigsalt_vip: released)",
        ),
        (
            {"pigsalt_vip": None},
            "waiting for the upgrade cutover to grant it (Patroni's dynamic config says pigsalt_vip: null)",
        ),
    ],
)
def test_probe_awaiting_the_grant_says_why(
    patroni: FakePatroni, gate: dict[str, object], held_back: str, caplog: pytest.LogCaptureFixture
) -> None:
    patroni.config = {**DYNAMIC_CONFIG, **gate}
    probe = PrimaryProbe(patroni.url, timeout=5, await_grant=True)
    caplog.set_level(logging.INFO)

    assert [probe(), probe()] == [False, False]
    assert probe.held_back == held_back
    assert caplog.messages == [f"held back although Patroni answers 200 on /primary: {held_back}"]


def test_keeper_release_names_the_cause_it_is_given(caplog: pytest.LogCaptureFixture) -> None:
    node = Node(False, False, False, False, present=True)
    why = iter(["Patroni's dynamic config says pigsalt_vip: released"] * 2 + [None, None])
    keeper = Keeper(
        node.probe, node.present, node.add, node.remove, node.announce, name="the VIP", explain=lambda: next(why)
    )
    caplog.set_level(logging.INFO)

    assert [keeper.step(), keeper.step()] == [None, "released"]
    assert caplog.messages == ["released the VIP: Patroni's dynamic config says pigsalt_vip: released"]


@pytest.mark.parametrize(
    ("argv", "gate", "held"),
    [
        ([], {"pigsalt_vip": "granted"}, True),
        ([], {"pigsalt_vip": "released"}, False),
        (["--await-grant"], {}, False),
        (["--await-grant"], {"pigsalt_vip": "granted"}, True),
    ],
)
def test_main_once_at_an_upgrade_cutover(
    argv: list[str],
    gate: dict[str, str],
    held: bool,
    fake_ip: Path,
    patroni: FakePatroni,
    announced: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each keeper starts holding the address: the gate decides whether it stays.
    (fake_ip / "held").write_text("2: host0    inet 10.10.10.3/24 scope global secondary host0\n")
    patroni.config = {**DYNAMIC_CONFIG, **gate}
    caplog.set_level(logging.INFO)

    assert main(["--address", "10.10.10.3/24", *REQUIRED[:2], "--patroni", patroni.url, "--once", *argv]) == 0

    assert (fake_ip / "held").exists() is held
    assert patroni.paths == ["/primary", "/config"]
    if held:
        assert caplog.messages == ["no change for 10.10.10.3/24 on host0"]
    elif argv:
        why = "waiting for the upgrade cutover to grant it (Patroni's dynamic config has no pigsalt_vip)"
        assert caplog.messages == [
            f"held back although Patroni answers 200 on /primary: {why}",
            f"released 10.10.10.3/24 on host0: {why}",
        ]
    else:
        assert caplog.messages == [
            "held back although Patroni answers 200 on /primary: Patroni's dynamic config says pigsalt_vip: released",
            "released 10.10.10.3/24 on host0: Patroni's dynamic config says pigsalt_vip: released",
        ]


# The command line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.10.10.3/24", "10.10.10.3/24"),
        ("10.10.10.3/255.255.255.0", "10.10.10.3/24"),
        ("192.168.1.7/32", "192.168.1.7/32"),
    ],
)
def test_parse_address(text: str, expected: str) -> None:
    assert parse_address(text) == ipaddress.IPv4Interface(expected)


REQUIRED = ["--interface", "host0", "--patroni", "http://10.10.10.11:8008"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--address", "10.10.10.3", *REQUIRED],
            "argument --address: '10.10.10.3': expected an IPv4 address and prefix length, e.g. 10.10.10.3/24",
        ),
        (
            ["--address", "10.10.10.300/24", *REQUIRED],
            "argument --address: '10.10.10.300/24': expected an IPv4 address and prefix length, e.g. 10.10.10.3/24",
        ),
        (
            ["--address", "fd00::3/64", *REQUIRED],
            "argument --address: 'fd00::3/64': expected an IPv4 address and prefix length, e.g. 10.10.10.3/24",
        ),
        (
            ["--address", "10.10.10.0/24", *REQUIRED],
            "argument --address: '10.10.10.0/24': 10.10.10.0 is the network address of 10.10.10.0/24",
        ),
        (
            ["--address", "10.10.10.255/24", *REQUIRED],
            "argument --address: '10.10.10.255/24': 10.10.10.255 is the broadcast address of 10.10.10.0/24",
        ),
        (["--address", "10.10.10.3/24"], "the following arguments are required: --patroni"),
        (
            ["--address", "10.10.10.3/24", "--patroni", "http://10.10.10.11:8008"],
            "one of the arguments --interface --interface-of is required",
        ),
        (
            ["--address", "10.10.10.3/24", *REQUIRED, "--interface-of", "10.10.10.11"],
            "argument --interface-of: not allowed with argument --interface",
        ),
        (
            ["--address", "10.10.10.3/24", "--interface", "../../etc", "--patroni", "http://10.10.10.11:8008"],
            "argument --interface: '../../etc': not a network interface name",
        ),
        (
            ["--address", "10.10.10.3/24", "--interface", "host0", "--patroni", "10.10.10.11:8008"],
            "argument --patroni: '10.10.10.11:8008': expected Patroni's REST API URL, e.g. https://10.10.10.11:8008",
        ),
        (
            ["--address", "10.10.10.3/24", *REQUIRED, "--cacert", "/nonexistent/ca.crt"],
            "argument --cacert: '/nonexistent/ca.crt': no such file or directory",
        ),
        (
            ["--address", "10.10.10.3/24", *REQUIRED, "--interval", "0"],
            "argument --interval: '0': expected a positive number of seconds",
        ),
        (
            ["--address", "10.10.10.3/24", *REQUIRED, "--timeout", "nan"],
            "argument --timeout: 'nan': expected a positive number of seconds",
        ),
        (
            ["--address", "10.10.10.3/24", *REQUIRED, "--release-after", "0"],
            "argument --release-after: '0': expected a whole number, at least 1",
        ),
    ],
)
def test_main_argument_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)

    assert raised.value.code == 2
    assert capsys.readouterr().err == f"python -m pigsalt.agent.vip: error: {message} (see --help)\n"


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """``send_garp`` as main calls it, recorded instead of sent."""
    calls: list[tuple[str, str]] = []

    def record(interface: str, ip: str) -> None:
        calls.append((interface, ip))

    monkeypatch.setattr(vip, "send_garp", record)
    return calls


def test_main_once_acquires(
    fake_ip: Path, patroni: FakePatroni, announced: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    assert main(["--address", "10.10.10.3/24", "--interface", "host0", "--patroni", patroni.url, "--once"]) == 0

    assert (fake_ip / "log").read_text().splitlines() == [
        "-4 -o addr show dev host0",
        "addr add 10.10.10.3/24 dev host0",
    ]
    assert announced == [("host0", "10.10.10.3")]
    assert caplog.messages == ["acquired 10.10.10.3/24 on host0: Patroni answers 200 on /primary"]


def test_main_once_releases_on_a_single_miss(
    fake_ip: Path, patroni: FakePatroni, announced: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    (fake_ip / "held").write_text("2: host0    inet 10.10.10.3/24 scope global secondary host0\n")
    patroni.statuses = [503]
    caplog.set_level(logging.INFO)

    assert main(["--address", "10.10.10.3/24", "--interface", "host0", "--patroni", patroni.url, "--once"]) == 0

    assert not (fake_ip / "held").exists()
    assert announced == []
    assert caplog.messages == [
        "released 10.10.10.3/24 on host0: no 200 from Patroni on /primary in the last answer (last: not primary)"
    ]


def test_main_once_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patroni: FakePatroni, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    caplog.set_level(logging.INFO)

    assert main(["--address", "10.10.10.3/24", "--interface", "host0", "--patroni", patroni.url, "--once"]) == 1
    assert caplog.messages == ["ip -4 -o addr show dev host0: ip is not installed (or not on PATH)"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_main_releases_on_a_signal(
    signum: signal.Signals,
    fake_ip: Path,
    patroni: FakePatroni,
    announced: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Patroni's first answer comes with the signal: main has its handlers by then.
    patroni.on_request.append(lambda: os.kill(os.getpid(), signum))
    caplog.set_level(logging.INFO)
    before = signal.getsignal(signum)

    assert main(["--address", "10.10.10.3/24", "--interface", "host0", "--patroni", patroni.url]) == 0

    assert (fake_ip / "log").read_text().splitlines() == [
        "-4 -o addr show dev host0",
        "addr add 10.10.10.3/24 dev host0",
        "-4 -o addr show dev host0",
        "addr del 10.10.10.3/24 dev host0",
    ]
    assert not (fake_ip / "held").exists()
    assert announced == [("host0", "10.10.10.3")]
    assert patroni.paths == ["/primary", "/config"]
    assert caplog.messages == [
        f"keeping 10.10.10.3/24 on host0 while {patroni.url}/primary answers 200 "
        "and /config does not say pigsalt_vip: released (every 1 s; released after 2 misses in a row)",
        "acquired 10.10.10.3/24 on host0: Patroni answers 200 on /primary",
        f"stopping on {signum.name}",
        "released 10.10.10.3/24 on host0: the keeper is stopping",
    ]
    assert signal.getsignal(signum) == before
