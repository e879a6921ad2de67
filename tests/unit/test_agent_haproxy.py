"""``pigsalt.agent.haproxy`` against a real Unix socket that answers as HAProxy 2.6's runtime API does."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent import haproxy as haproxy_agent
from pigsalt.agent.haproxy import ServerState, parse_stat, send, servers, set_health, set_state

# The `show stat` fields of HAProxy 2.6, in order.
FIELDS = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
    "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,"
    "req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,"
    "qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,"
    "check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,"
    "intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,"
    "rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,"
    "agg_server_check_status,agg_check_status,srid,sess_other,h1sess,h2sess,h3sess,req_other,h1req,h2req,h3req,proto"
).split(",")

# (backend, server, status, weight, scur, check_status, check_desc, address)
SERVERS = [
    ("pg-test-primary", "pg-test-1", "UP", 100, 3, "L7OK", "Layer7 check passed", "10.10.10.11:6432"),
    ("pg-test-primary", "pg-test-2", "DOWN", 100, 0, "L7STS", "Layer7 wrong status", "10.10.10.12:6432"),
    ("pg-test-replica", "pg-test-1", "UP", 100, 0, "L7OK", "Layer7 check passed", "10.10.10.11:6432"),
    ("pg-test-replica", "pg-test-2", "UP", 100, 2, "L7OK", "Layer7 check passed", "10.10.10.12:6432"),
]
BACKENDS = ["pg-test-primary", "pg-test-replica", "pg-test-empty"]


def line(**fields: object) -> str:
    return ",".join(str(fields.get(name, "")) for name in FIELDS) + ","


def show_stat(table: dict[tuple[str, str], str]) -> str:
    """A `show stat` answer for the stats page and the service proxies, with the statuses of ``table``."""
    out = ["# " + ",".join(FIELDS) + ","]
    out.append(line(pxname="stats", svname="FRONTEND", scur=0, slim=3000, status="OPEN", pid=1, iid=2, type=0))
    out.append(line(pxname="stats", svname="BACKEND", scur=0, status="UP", weight=0, pid=1, iid=2, type=1))
    for sid, backend in enumerate(BACKENDS, start=3):
        out.append(line(pxname=backend, svname="FRONTEND", scur=3, slim=3000, status="OPEN", iid=sid, type=0))
        for n, (px, server, _status, weight, scur, check, desc, addr) in enumerate(SERVERS, start=1):
            if px == backend:
                status = table[(px, server)]
                out.append(
                    line(
                        pxname=px,
                        svname=server,
                        qcur=0,
                        qmax=0,
                        scur=scur,
                        smax=4,
                        slim=3000,
                        stot=12,
                        status=status,
                        weight=weight,
                        act=1,
                        bck=0,
                        chkfail=1,
                        chkdown=1,
                        lastchg=73,
                        downtime=0,
                        pid=1,
                        iid=sid,
                        sid=n,
                        type=2,
                        check_status="" if status == "MAINT" else check,
                        check_code=200 if check == "L7OK" else 503,
                        check_duration=2,
                        check_desc=desc,
                        check_rise=2,
                        check_fall=3,
                        addr=addr,
                        mode="tcp",
                        uweight=weight,
                        proto="",
                    )
                )
        out.append(line(pxname=backend, svname="BACKEND", scur=3, status="UP", weight=200, iid=sid, type=1, algo="rr"))
    return "\n".join(out) + "\n\n"


class FakeHAProxy:
    """A runtime API on a Unix socket: one command per connection, answered, then closed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.commands: list[str] = []
        self.table = {(px, server): status for px, server, status, *_ in SERVERS}
        self.unchecked: set[tuple[str, str]] = set()  # health checks stopped (`disable health`)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                command = data.decode().strip()
                self.commands.append(command)
                conn.sendall(self.answer(command).encode())

    def answer(self, command: str) -> str:
        words = command.split()
        if command == "show stat":
            return show_stat(self.table)
        if words[:2] == ["set", "server"] and len(words) == 5 and words[3] == "state":
            backend, _, server = words[2].partition("/")
            if backend not in BACKENDS:
                return "No such backend.\n\n"
            if (backend, server) not in self.table:
                return "No such server.\n\n"
            if words[4] not in ("ready", "drain", "maint"):
                return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
            self.table[(backend, server)] = {"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[words[4]]
            return "\n"
        if words[1:2] == ["health"] and words[0] in ("enable", "disable") and len(words) == 3:
            backend, _, server = words[2].partition("/")
            if (backend, server) not in self.table:
                return "No such server.\n\n"
            (self.unchecked.discard if words[0] == "enable" else self.unchecked.add)((backend, server))
            return "\n"
        return "Unknown command: '" + words[0] + "'\n\n"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Short: a Unix socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="hap", dir="/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def haproxy(sockdir: Path) -> Iterator[FakeHAProxy]:
    fake = FakeHAProxy(str(sockdir / "admin.sock"))
    yield fake
    fake.close()


def test_send_returns_the_whole_answer(haproxy: FakeHAProxy):
    assert send("show stat", haproxy.path) == show_stat(haproxy.table)
    assert send("show info", haproxy.path) == "Unknown command: 'show'\n\n"
    assert haproxy.commands == ["show stat", "show info"]


def test_parse_stat_skips_the_totals():
    assert parse_stat(show_stat({(px, server): status for px, server, status, *_ in SERVERS})) == [
        ServerState("pg-test-primary", "pg-test-1", "UP", 100, 3, "L7OK"),
        ServerState("pg-test-primary", "pg-test-2", "DOWN", 100, 0, "L7STS"),
        ServerState("pg-test-replica", "pg-test-1", "UP", 100, 0, "L7OK"),
        ServerState("pg-test-replica", "pg-test-2", "UP", 100, 2, "L7OK"),
    ]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("Permission denied\n\n", "HAProxy show stat: unexpected answer: Permission denied"),
        ("", "HAProxy show stat: unexpected answer: nothing"),
        ("# pxname,svname,status\n", "HAProxy show stat: no check_status, scur, weight in the header"),
    ],
)
def test_parse_stat_refuses_other_answers(answer: str, error: str):
    with pytest.raises(AgentError) as caught:
        parse_stat(answer)
    assert str(caught.value) == error


def test_servers(haproxy: FakeHAProxy):
    assert servers(socket_path=haproxy.path) == parse_stat(show_stat(haproxy.table))
    assert servers("pg-test-replica", haproxy.path) == [
        ServerState("pg-test-replica", "pg-test-1", "UP", 100, 0, "L7OK"),
        ServerState("pg-test-replica", "pg-test-2", "UP", 100, 2, "L7OK"),
    ]
    assert servers("pg-test-empty", haproxy.path) == []
    with pytest.raises(AgentError) as caught:
        servers("pg-test-offline", haproxy.path)
    assert str(caught.value) == f"HAProxy {haproxy.path}: no backend pg-test-offline"


def test_set_state(haproxy: FakeHAProxy):
    set_state("pg-test-replica", "pg-test-2", "drain", haproxy.path)
    set_state("pg-test-replica", "pg-test-1", "maint", haproxy.path)
    assert servers("pg-test-replica", haproxy.path) == [
        ServerState("pg-test-replica", "pg-test-1", "MAINT", 100, 0, ""),
        ServerState("pg-test-replica", "pg-test-2", "DRAIN", 100, 2, "L7OK"),
    ]
    set_state("pg-test-replica", "pg-test-1", "ready", haproxy.path)
    assert haproxy.commands == [
        "set server pg-test-replica/pg-test-2 state drain",
        "set server pg-test-replica/pg-test-1 state maint",
        "show stat",
        "set server pg-test-replica/pg-test-1 state ready",
    ]


def test_set_health(haproxy: FakeHAProxy):
    set_health("pg-test-primary", "pg-test-1", False, haproxy.path)
    assert haproxy.unchecked == {("pg-test-primary", "pg-test-1")}
    set_health("pg-test-primary", "pg-test-1", True, haproxy.path)
    assert haproxy.unchecked == set()
    assert haproxy.commands == ["disable health pg-test-primary/pg-test-1", "enable health pg-test-primary/pg-test-1"]
    with pytest.raises(AgentError) as caught:
        set_health("pg-test-primary", "pg-test-9", True, haproxy.path)
    assert str(caught.value) == f"HAProxy {haproxy.path}: 'enable health pg-test-primary/pg-test-9': No such server."
    with pytest.raises(AgentError, match=r"^HAProxy: 'a b' is not a server name"):
        set_health("pg-test-primary", "a b", False, haproxy.path)


def test_set_state_says_what_haproxy_refused(haproxy: FakeHAProxy):
    with pytest.raises(AgentError) as caught:
        set_state("pg-test-offline", "pg-test-1", "ready", haproxy.path)
    assert str(caught.value) == (
        f"HAProxy {haproxy.path}: 'set server pg-test-offline/pg-test-1 state ready': No such backend."
    )
    with pytest.raises(AgentError) as caught:
        set_state("pg-test-replica", "pg-test-9", "maint", haproxy.path)
    assert str(caught.value) == (
        f"HAProxy {haproxy.path}: 'set server pg-test-replica/pg-test-9 state maint': No such server."
    )


@pytest.mark.parametrize(
    ("backend", "server", "error"),
    [
        ("pg test", "pg-test-1", "HAProxy: 'pg test' is not a backend name (letters, digits, '-', '_', '.', ':')"),
        (
            "pg-test",
            "a\nshutdown",
            "HAProxy: 'a\\nshutdown' is not a server name (letters, digits, '-', '_', '.', ':')",
        ),
        ("pg-test", "a/b", "HAProxy: 'a/b' is not a server name (letters, digits, '-', '_', '.', ':')"),
        ("", "b", "HAProxy: '' is not a backend name (letters, digits, '-', '_', '.', ':')"),
    ],
)
def test_set_state_checks_the_names(haproxy: FakeHAProxy, backend: str, server: str, error: str):
    with pytest.raises(AgentError) as caught:
        set_state(backend, server, "ready", haproxy.path)
    assert str(caught.value) == error
    assert haproxy.commands == []


def test_set_state_checks_the_state(haproxy: FakeHAProxy):
    with pytest.raises(AgentError) as caught:
        set_state("pg-test-replica", "pg-test-1", "up", haproxy.path)  # type: ignore[arg-type]
    assert str(caught.value) == "HAProxy: server state 'up' is not ready, drain or maint"


def test_send_one_line_only(haproxy: FakeHAProxy):
    with pytest.raises(AgentError) as caught:
        send("show stat\nshutdown sessions", haproxy.path)
    assert str(caught.value) == f"HAProxy {haproxy.path}: 'show stat\\nshutdown sessions': one command, on one line"


def test_no_socket(sockdir: Path):
    path = str(sockdir / "missing.sock")
    with pytest.raises(AgentError) as caught:
        send("show stat", path)
    assert str(caught.value) == (
        f"HAProxy {path}: 'show stat': no such socket (is HAProxy running, with a stats socket there?)"
    )


def test_connection_refused(sockdir: Path):
    path = str(sockdir / "dead.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)  # bound, not listening: what a stopped HAProxy leaves behind
        with pytest.raises(AgentError) as caught:
            send("show stat", path)
    assert str(caught.value) == f"HAProxy {path}: 'show stat': connection refused (HAProxy is not listening)"


def test_permission_denied(sockdir: Path, monkeypatch: pytest.MonkeyPatch):
    # The tests run as root, whom a socket's mode never stops: the refusal a non-root minion
    # would get from a 0660 root:haproxy socket is raised by a stand-in socket instead.
    path = str(sockdir / "admin.sock")

    class Refusing(socket.socket):
        def connect(self, address: object) -> None:
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(haproxy_agent.socket, "socket", Refusing)
    with pytest.raises(AgentError) as caught:
        send("show stat", path)
    assert str(caught.value) == f"HAProxy {path}: 'show stat': permission denied"


def test_no_answer_in_time(sockdir: Path):
    path = str(sockdir / "silent.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(path)
        silent.listen()
        with pytest.raises(AgentError) as caught:
            send("show stat", path, timeout=0.2)
    assert str(caught.value) == f"HAProxy {path}: 'show stat': no complete answer within 0.2 s"
