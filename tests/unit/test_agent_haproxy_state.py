"""``pigsalt.agent.haproxy_state``: the checks read from the real haproxy.cfg template, run
against real HTTPS servers on loopback (a throwaway CA), and the server-state file written."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import yaml

from pigsalt.agent import haproxy_state
from pigsalt.agent.haproxy_state import Check
from tests.certs import make_certs
from tests.conftest import ROOT
from tests.serve import serving

TEMPLATE = ROOT / "salt" / "haproxy" / "files" / "haproxy.cfg.j2"


def render(pillar_file: str) -> tuple[str, dict]:
    pillar = yaml.safe_load((ROOT / "tests" / "golden" / "pillar" / pillar_file).read_text())
    return jinja2.Template(TEMPLATE.read_text()).render(pillar=pillar), pillar


def test_every_checked_server_of_the_template_is_read_with_its_check():
    text, pillar = render("sandbox/node-1.yml")
    checks = haproxy_state.parse_checks(text)
    expected = [
        Check(
            backend=name,
            server=m["name"],
            address=m["ip"],
            port=m["port"],
            weight=m["weight"],
            check_port=svc["check_port"],
            method="OPTIONS",
            uri=check,
            status=svc["check_code"],
            tls=True,
            ca_file=pillar["pigsty"]["tls"]["ca_cert"],
            verify=True,
            verifyhost=m["host"],
        )
        for svc in pillar["pigsty"]["pg"]["services"]
        for name, check, members in [
            (svc["name"], svc["check"], svc["members"]),
            *([(svc["name"] + "-backup", svc["backup_check"], svc["backups"])] if svc["backups"] else []),
        ]
        for m in members
    ]
    assert len(expected) >= 12
    assert checks == expected


def test_servers_without_an_http_check_get_no_line():
    text = (
        "global\n    daemon\n"
        "backend tcp-only\n    server a 10.0.0.1:5432 check\n"
        "backend unchecked\n    option httpchk\n    server b 10.0.0.2:5432 weight 5\n"
        "listen admin\n    server c 10.0.0.3:80 check\n"
        "backend checked  # a comment\n    option httpchk\n    default-server weight 7 port 9000\n"
        "    http-check send meth GET uri /health\n    http-check expect status 204\n"
        "    server d 10.0.0.4:5432 check\n"
    )
    assert haproxy_state.parse_checks(text) == [
        Check("checked", "d", "10.0.0.4", 5432, weight=7, check_port=9000, method="GET", uri="/health", status=204)
    ]


def _patroni_replica(method: str, path: str) -> tuple[int, bytes]:
    """Answers like a Patroni replica: 200 on /replica, 503 on /primary."""
    return (200 if path == "/replica" else 503), b""


@pytest.fixture(scope="module")
def patroni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS server on loopback with a certificate for 'pg-test-2' and 127.0.0.1: (port, CA)."""
    certs = make_certs(tmp_path_factory.mktemp("pki"), names=("pg-test-2",))
    with serving(_patroni_replica, certs) as port:
        yield port, certs.ca


def _check(port: int, ca: Path, **changes: object) -> Check:
    check = Check("pg-test-replica", "pg-test-2", "127.0.0.1", 6432, 100, port, "OPTIONS", "/replica", 200)
    fields = {"tls": True, "ca_file": str(ca), "verifyhost": "pg-test-2", **changes}
    return dataclasses.replace(check, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "up"),
    [
        ({}, True),
        ({"uri": "/primary"}, False),  # answered, with another status
        ({"verifyhost": "pg-test-3"}, False),  # a certificate for another member
        ({"ca_file": None}, False),  # not signed by a CA the system trusts
        ({"ca_file": None, "verify": False}, True),  # `verify none`
        ({"tls": False}, False),  # a clear request to a TLS server
    ],
)
def test_a_probe_passes_only_as_haproxys_check_would(patroni: tuple[int, Path], changes: dict, up: bool):
    port, ca = patroni
    assert haproxy_state.probe(_check(port, ca, **changes), timeout=5) is up


@pytest.fixture(scope="module")
def patroni_in_clear() -> Iterator[int]:
    """The same Patroni answers without TLS, as one not converted yet: its port."""
    with serving(_patroni_replica) as port:
        yield port


@pytest.mark.parametrize(("uri", "up"), [("/replica", True), ("/primary", False)])
def test_a_member_still_in_clear_during_the_conversion_starts_as_its_answer(
    patroni: tuple[int, Path], patroni_in_clear: int, uri: str, up: bool
):
    """A TLS check with no TLS answer asks once more in clear (the first state only)."""
    check = _check(patroni_in_clear, patroni[1], uri=uri)
    assert haproxy_state.probe(check, timeout=5) is up


def test_a_probe_of_a_closed_port_fails_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        assert haproxy_state.probe(Check("b", "s", "127.0.0.1", 1, check_port=port), timeout=5) is False


def test_main_writes_each_servers_measured_state(patroni: tuple[int, Path], tmp_path: Path, capsys):
    port, ca = patroni
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n    mode tcp\n"
        + "".join(
            f"backend pg-test-{svc}\n    option httpchk\n    http-check send meth OPTIONS uri /{svc}\n"
            f"    http-check expect status 200\n    default-server inter 3s rise 3 fall 3 weight 100\n"
            f"    server pg-test-2 127.0.0.1:6432 check port {port} check-ssl verify required"
            f" ca-file {ca} verifyhost pg-test-2\n"
            for svc in ("primary", "replica")
        )
    )
    state = tmp_path / "server-state"
    assert haproxy_state.main(["--config", str(config), "--state", str(state)]) == 0
    lines = state.read_text().splitlines()
    assert lines[0] == "1" and lines[1].startswith("# be_id be_name srv_id srv_name")
    rows = [line.split() for line in lines[2:]]
    assert all(len(row) == 20 for row in rows)  # HAProxy's version 1 minimum, nothing optional
    # be_name, srv_name, srv_addr, srv_op_state (0 stopped, 2 running), weights, srv_port
    assert [(r[1], r[3], r[4], r[5], r[7], r[8], r[18]) for r in rows] == [
        ("pg-test-primary", "pg-test-2", "127.0.0.1", "0", "100", "100", "6432"),
        ("pg-test-replica", "pg-test-2", "127.0.0.1", "2", "100", "100", "6432"),
    ]
    # srv_check_status "initializing" (with 0, "unknown", HAProxy 3.0 never completed a check
    # again) and srv_check_state "configured, enabled": as a new check starts.
    assert {(r[10], r[13]) for r in rows} == {("1", "6")}
    assert "1 of 2 servers start UP; DOWN: pg-test-primary/pg-test-2" in capsys.readouterr().out
    assert not (tmp_path / "server-state.new").exists()


def test_an_unreadable_configuration_removes_the_state_and_never_fails(tmp_path: Path, capsys):
    state = tmp_path / "server-state"
    state.write_text("1\nstale\n")
    assert haproxy_state.main(["--config", str(tmp_path / "missing.cfg"), "--state", str(state)]) == 0
    assert not state.exists()
    assert "no server state written, every server starts as HAProxy's default" in capsys.readouterr().err


def test_the_template_loads_the_state_file_the_unit_writes():
    text, _ = render("sandbox/node-1.yml")
    assert f"server-state-file {haproxy_state.DEFAULT_STATE}" in text
    assert "load-server-state-from-file global" in text
