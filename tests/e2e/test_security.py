"""Secrets on the deployed sandbox: one set per cluster, no password in Postgres' views, a
rotation of the replicator's password that replication survives, no world-readable secret file."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from pigsalt.agent import scram
from pigsalt.cli import main
from pigsalt.sandbox.image import SALT_VENV
from pigsalt.sandbox.salt import INVENTORY_IN_MASTER
from tests.certs import make_certs
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster, run_orch, settled

pytestmark = pytest.mark.e2e

MEMBERS = {"node-1": "pg-test-1", "node-2": "pg-test-2", "node-3": "pg-test-3"}
PRIVATE_DIRS = (
    *("/etc/patroni", "/etc/pgbouncer", "/etc/etcd", "/etc/haproxy", "/etc/default", "/etc/vip-manager"),
    "/etc/pgbackrest",
)


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> Sandbox:
    deploy_cluster(sandbox_session, "pg-meta")
    deploy_cluster(sandbox_session, "pg-test")
    return sandbox_session


def _psql(sandbox: Sandbox, node: str, sql: str, db: str = "postgres") -> str:
    argv = ["runuser", "-u", "postgres", "--", "psql", "-d", db, "-XAtqc", sql]
    done = sandbox.run(node, *argv, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _members(sandbox: Sandbox) -> dict[str, dict[str, object]]:
    out = sandbox.salt("node-1", "patroni.cluster", "--out=json").stdout
    return {m["name"]: m for m in json.loads(out)["node-1"]["members"]}


def _streaming(sandbox: Sandbox, timeout: float = 90) -> dict[str, object]:
    """Every replica streaming from the leader, within ``timeout``; the members as last seen."""
    deadline = time.monotonic() + timeout
    while True:
        members = _members(sandbox)
        states = sorted(str(m["state"]) for m in members.values())
        if states == ["running", "streaming", "streaming"] or time.monotonic() > deadline:
            return members
        time.sleep(2)


def test_each_cluster_has_its_own_generated_passwords(deployed: Sandbox) -> None:
    meta, test = deployed.secrets("pg-meta"), deployed.secrets("pg-test")
    assert set(meta) == set(test)
    assert all(meta[k] != test[k] for k in meta), "a generated password is shared by two clusters"
    # pg-test's admin password does not open pg-meta; pg-meta's does (from meta, where the admin
    # may log in).
    psql = ["psql", "-h", "10.10.10.10", "-U", "dbuser_dba", "-d", "postgres", "-XAtc", "SELECT 1"]
    wrong = deployed.run("meta", *psql, env={"PGPASSWORD": test["pg_admin_password"]})
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    right = deployed.run("meta", *psql, env={"PGPASSWORD": meta["pg_admin_password"]})
    assert (right.returncode, right.stdout.strip()) == (0, "1"), right.stderr


def test_no_password_text_in_pg_stat_statements_on_any_member(deployed: Sandbox) -> None:
    leader = next(n for n, name in MEMBERS.items() if _members(deployed)[name]["role"] == "leader")
    for primary in ("meta", leader):  # pg-meta's and pg-test's
        _psql(deployed, primary, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for node in ("meta", *MEMBERS):
        _psql(deployed, node, "SELECT 1")  # the extension has replicated to every member by now
        time.sleep(0.2)
        count = _psql(deployed, node, "SELECT count(*) FROM pg_stat_statements WHERE query ILIKE '%password%'")
        assert count == "0", f"{node}: {count} statements hold PASSWORD"


def test_rotating_the_replicators_password_keeps_replication(deployed: Sandbox) -> None:
    before = deployed.secrets()["pg_replication_password"]
    argv = [f"{SALT_VENV}/bin/pigsalt", "secret", "rotate", "--cluster", "pg-test", "--user", "replicator"]
    done = deployed.run(deployed.layout.master, *argv, "--pillar", INVENTORY_IN_MASTER, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    after = deployed.secrets()["pg_replication_password"]
    assert after != before
    leader = next(n for n, name in MEMBERS.items() if _members(deployed)[name]["role"] == "leader")
    stored = _psql(deployed, leader, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'")
    assert scram.matches(after, stored) and not scram.matches(before, stored)
    assert sorted(str(m["state"]) for m in _streaming(deployed).values()) == ["running", "streaming", "streaming"]
    # Every connection from now on uses the new password: a switchover, then a replica restart.
    others = [n for n in MEMBERS if n != leader and MEMBERS[n] != "pg-test-3"]
    switched = deployed.salt(leader, "patroni.switchover", f"candidate={MEMBERS[others[0]]}")
    assert switched.returncode == 0, switched.stdout + switched.stderr
    restarted = deployed.run("node-3", "systemctl", "restart", "patroni", timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    members = _streaming(deployed, timeout=180)
    assert sorted(str(m["state"]) for m in members.values()) == ["running", "streaming", "streaming"], members
    assert members[MEMBERS[others[0]]]["role"] == "leader"
    # Back to the inventory's primary, for the modules that follow (unless it leads already).
    if MEMBERS[others[0]] != "pg-test-1":
        back = deployed.salt(others[0], "patroni.switchover", "candidate=pg-test-1")
        assert back.returncode == 0, back.stdout + back.stderr
        assert _streaming(deployed, timeout=180)["pg-test-1"]["role"] == "leader"
    settled(deployed, "pg-test")  # HAProxy's checks and the VIP have followed too: 5433 serves again


def test_etcd_needs_a_client_certificate_and_keeps_each_cluster_to_its_keys(deployed: Sandbox) -> None:
    # From the host (not in the inventory): the node firewall closes 2379.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen("http://10.10.10.10:2379/version", timeout=10)
    # From node-1, which the firewall lets in: plain HTTP and TLS without a client certificate fail.
    with pytest.raises(ConnectionError):
        deployed.http("http://10.10.10.10:2379/version", node="node-1")
    with pytest.raises(ConnectionError):
        deployed.http("https://10.10.10.10:2379/version", node="node-1")
    # With a node's certificate: pg-test's etcd user reads pg-test's keys, never pg-meta's.
    tls = ["--cacert=/etc/pki/pigsalt/ca.crt", "--cert=/etc/pki/pigsalt/node.crt", "--key=/etc/pki/pigsalt/node.key"]
    user = ["--user=patroni@pg-test", f"--password={deployed.secrets()['patroni_etcd_password']}"]
    etcdctl = ["etcdctl", "--endpoints=https://10.10.10.10:2379", *tls, *user, "get", "--prefix", "--keys-only"]
    own = deployed.run("meta", *etcdctl, "/service/pg-test/")
    assert own.returncode == 0 and "/service/pg-test/leader" in own.stdout, own.stderr
    other = deployed.run("meta", *etcdctl, "/service/pg-meta/")
    assert other.returncode != 0 and "permission denied" in other.stderr, (other.stdout, other.stderr)
    # The node's certificate alone (no user) reads nothing.
    anonymous = deployed.run(
        "meta", "etcdctl", "--endpoints=https://10.10.10.10:2379", *tls, "get", "/service/pg-test/leader"
    )
    assert anonymous.returncode != 0, anonymous.stdout


def _ca_pem() -> str:
    result = CliRunner().invoke(main, ["ca", "cert", "--sandbox"])
    assert result.exit_code == 0 and result.output.startswith("-----BEGIN CERTIFICATE-----"), result.output
    return result.output


def test_clients_verify_the_servers_through_5433_the_vip_and_5436(deployed: Sandbox, tmp_path: Path) -> None:
    ca = tmp_path / "pigsty-ca.crt"
    ca.write_text(_ca_pem())
    password = next(
        u["password"] for u in deployed.inventory.cluster("pg-test").vars["pg_users"] if u["name"] == "test"
    )
    login = {"user": "test", "password": password, "dbname": "test", "connect_timeout": 10, "sslmode": "verify-full"}
    # Through HAProxy a connection may land on another member: clients verify the VIP (or the
    # cluster's name), which every member's certificate carries; directly, the node's own address.
    for host, port in (("10.10.10.3", 5433), ("10.10.10.3", 5434), ("10.10.10.3", 5436), ("10.10.10.12", 5432)):
        with psycopg.connect(host=host, port=port, sslrootcert=str(ca), **login) as conn:
            assert conn.pgconn.ssl_in_use, (host, port)
            assert conn.execute("SELECT 1").fetchone() == (1,)
    # A CA that did not sign them verifies nothing.
    other = make_certs(tmp_path / "other").ca  # a CA that is not pigsalt's
    with pytest.raises(psycopg.OperationalError, match=r"certificate verify failed"):
        psycopg.connect(host="10.10.10.3", port=5433, sslrootcert=str(other), **login).close()


def test_no_secret_file_is_readable_by_others(deployed: Sandbox) -> None:
    for path in deployed.inventory_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, f"{path}: mode {path.stat().st_mode & 0o777:o}"
    values = list(deployed.all_secrets().values())
    show = 'for f; do echo "==> $f"; cat "$f"; done'
    for node in ("meta", *MEMBERS):
        find = ["find", *PRIVATE_DIRS, "-xdev", "-type", "f", "-perm", "/o=r"]
        find += ["-exec", "sh", "-c", show, "_", "{}", "+"]
        found = deployed.run(node, *find, timeout=60).stdout
        readable = [
            chunk.split("\n", 1)[0] for chunk in found.split("==> ")[1:] if any(value in chunk for value in values)
        ]
        assert readable == [], f"{node}: world-readable files holding a password: {readable}"


def test_a_missing_store_fails_the_pillar_with_one_line_and_no_new_password(deployed: Sandbox) -> None:
    store = deployed.inventory_dir / "secrets.yml"
    kept = store.with_name("secrets.yml.kept")
    store.rename(kept)
    try:
        # What a user sees: every state run refuses to start, naming the missing store.
        done = deployed.salt("node-1", "state.sls", "pgsql.config", "test=True", "--out=json", timeout=120)
        assert "the secrets store does not exist" in done.stdout + done.stderr
        assert not store.exists(), "the store was generated again"
    finally:
        kept.rename(store)


NODE_IPS = {"node-1": "10.10.10.11", "node-2": "10.10.10.12", "node-3": "10.10.10.13"}
VIP = "10.10.10.3"


def _test_login(deployed: Sandbox) -> dict[str, object]:
    password = next(
        u["password"] for u in deployed.inventory.cluster("pg-test").vars["pg_users"] if u["name"] == "test"
    )
    return {"user": "test", "password": password, "dbname": "test", "connect_timeout": 2}


def _refusal(host: str, port: int, login: dict[str, object]) -> str | None:
    """None when host:port answers a query as the login, else why not (psycopg's first line)."""
    try:
        with psycopg.connect(host=host, port=port, **login) as conn:  # type: ignore[arg-type]
            row = conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None if row == (1,) else f"SELECT 1 returned {row}"


def _answers(host: str, port: int, login: dict[str, object]) -> bool:
    return _refusal(host, port, login) is None


def _eventually(check: object, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(1)
    return False


def _serve_in_clear(deployed: Sandbox) -> None:
    """Put pg-test back as a release before TLS left it: Patroni's REST API, HAProxy's checks and
    the VIP keeper in clear (only the lines TLS added are taken out), and no lease fence (it came
    later: stopped, it deletes its table)."""
    for node in NODE_IPS:
        script = (
            "systemctl stop pigsalt-fence && "
            "sed -i '/^  certfile: /d;/^  keyfile: /d' /etc/patroni/patroni.yml && systemctl reload patroni && "
            "sed -i 's/ check-ssl verify required ca-file [^ ]* verifyhost [^ ]*//' /etc/haproxy/haproxy.cfg && "
            "sed -i 's|--patroni https://|--patroni http://|; s| --cacert [^ ]*||' "
            "/etc/systemd/system/pigsalt-vip.service && systemctl daemon-reload"
        )
        done = deployed.run(node, "sh", "-c", script)
        assert done.returncode == 0, (node, done.stderr)
    for node, ip in NODE_IPS.items():

        def in_clear(ip: str = ip) -> bool:
            try:
                return deployed.http(f"http://{ip}:8008/patroni")[0] == 200
            except ConnectionError:
                return False

        assert _eventually(in_clear), f"{node}: Patroni does not answer in clear after the reload"
    for node in NODE_IPS:
        done = deployed.run(node, "sh", "-c", "systemctl reload haproxy && systemctl restart pigsalt-vip")
        assert done.returncode == 0, (node, done.stderr)


def _haproxy_status(deployed: Sandbox, node: str, backend: str, server: str) -> str:
    out = deployed.salt(node, "haproxy.servers", f"backend={backend}", "--out=json").stdout
    return next(s["status"] for s in json.loads(out)[node] if s["server"] == server)


def test_held_checks_keep_a_member_up_while_its_patroni_changes_scheme(deployed: Sandbox) -> None:
    """What pigsty.cluster does around the TLS conversion, step by step on the real HAProxy: a
    node's HAProxy that holds its checks in clear keeps the primary UP although the primary's
    Patroni now answers over TLS only, for longer than the checks take to mark it DOWN; resumed,
    the checks in clear fail and mark it DOWN (the reload to TLS checks is what follows)."""
    login = _test_login(deployed)
    leader = next(name for name, m in _members(deployed).items() if m["role"] == "leader")
    _serve_in_clear(deployed)
    (node,) = [n for n, i in MEMBERS.items() if i == leader]
    other = next(n for n in MEMBERS if n != node)
    backend = "pg-test-primary"
    assert _eventually(lambda: _haproxy_status(deployed, other, backend, leader).startswith("UP"))
    held = json.loads(deployed.salt(other, "haproxy.hold_clear_checks", "--out=json").stdout)[other]
    # The replicas are DOWN behind the primary's port: their checks go on.
    assert [h for h in held["held"] if h.startswith(f"{backend}/")] == [f"{backend}/{leader}"], held
    done = deployed.salt(node, "state.sls", "pgsql.restapi", "--out=json", "--state-verbose=False")
    assert done.returncode == 0, done.stdout[-2000:]
    with pytest.raises(ConnectionError):
        deployed.http(f"http://{NODE_IPS[node]}:8008/patroni")
    time.sleep(12)  # inter 3s + fall 3 × fastinter 1s, twice over
    # "no check": HAProxy takes the unchecked server as UP; the node's 5433 reaches the primary.
    assert _haproxy_status(deployed, other, backend, leader) == "no check"
    assert _answers(NODE_IPS[other], 5433, login)
    resumed = json.loads(deployed.salt(other, "haproxy.resume_checks", "--out=json").stdout)[other]
    assert f"{backend}/{leader}" in resumed["resumed"], resumed
    assert _eventually(lambda: _haproxy_status(deployed, other, backend, leader) == "DOWN", timeout=30)


def test_a_cluster_deployed_before_tls_is_converted_by_a_deploy_without_a_restart(deployed: Sandbox) -> None:
    """pg-test as the release before TLS left it is converted by pigsty.cluster: every Patroni's
    REST API over HTTPS, HAProxy's checks and the keeper with it, Postgres never restarted, and
    the nodes' own 5433/5434 answer all along."""
    login = _test_login(deployed)
    _serve_in_clear(deployed)
    ports = [(ip, port) for ip in NODE_IPS.values() for port in (5433, 5434)]
    assert _eventually(lambda: all(_answers(ip, port, login) for ip, port in ports)), "services down in clear"
    assert _eventually(lambda: _answers(VIP, 5433, login)), "no VIP in clear"
    starts = {n: _psql(deployed, n, "SELECT pg_postmaster_start_time()") for n in NODE_IPS}

    failures: dict[str, list[float]] = {f"{ip}:{port}": [] for ip, port in [*ports, (VIP, 5433)]}
    reasons: dict[str, str] = {}
    stop = threading.Event()
    began = time.monotonic()

    def probe() -> None:
        while not stop.is_set():
            for ip, port in [*ports, (VIP, 5433)]:
                if (why := _refusal(ip, port, login)) is not None:
                    failures[f"{ip}:{port}"].append(round(time.monotonic() - began, 1))
                    reasons.setdefault(f"{ip}:{port}", why)
            time.sleep(0.25)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        run = run_orch(deployed, "pigsty.cluster", pillar=json.dumps({"pg_cluster": "pg-test"}))
    finally:
        stop.set()
        prober.join(timeout=30)
    assert run.ok, "\n".join(run.failed) or run.raw[-2000:]
    print(
        f"conversion: {round(time.monotonic() - began)} s; failed probes by address: "
        f"{ {k: v for k, v in failures.items() if v} }; first reason by address: {reasons}"
    )
    for node, ip in NODE_IPS.items():
        status, _ = deployed.patroni(ip, "/patroni")
        assert status == 200, node
        with pytest.raises(ConnectionError):
            deployed.http(f"http://{ip}:8008/patroni")
        assert _psql(deployed, node, "SELECT pg_postmaster_start_time()") == starts[node], f"{node}: Postgres restarted"
    own = {k: v for k, v in failures.items() if not k.startswith(VIP)}
    if any(own.values()):  # what the next reader needs: each node's fence and its rules
        for node in NODE_IPS:
            seen = deployed.run(
                node, "sh", "-c",
                "nft list ruleset; systemctl status --no-pager pigsalt-fence haproxy | head -30; "
                "journalctl --no-pager -n 20 -u pigsalt-fence -u haproxy",
            )  # fmt: skip
            print(f"--- {node}\n{seen.stdout[-6000:]}")
    assert not any(own.values()), f"the nodes' own service ports failed during the conversion: {own}; {reasons}"
    assert _answers(VIP, 5433, login), "the VIP does not answer after the conversion"


def _connects(sandbox: Sandbox, node: str, ip: str, port: int) -> bool:
    """A TCP connection from inside ``node`` opens (bash's /dev/tcp; a reset or a timeout: no)."""
    probe = f"exec 3<>/dev/tcp/{ip}/{port}"
    return sandbox.run(node, "timeout", "5", "bash", "-c", probe, timeout=30).returncode == 0


def test_the_node_firewall_opens_each_control_port_only_to_the_nodes_that_need_it(deployed: Sandbox) -> None:
    for node in ("meta", *NODE_IPS):
        listed = deployed.run(node, "nft", "list", "table", "inet", "pigsalt")
        assert listed.returncode == 0, (node, listed.stderr)
    node1, meta = NODE_IPS["node-1"], "10.10.10.10"
    expected = [
        # (from, to, port, open?)
        ("meta", node1, 9630, True),  # exporters: meta only
        ("node-2", node1, 9630, False),
        ("node-2", node1, 9100, False),
        ("node-2", node1, 9101, False),
        ("node-2", node1, 8008, True),  # Patroni: the cluster's members and meta
        ("meta", node1, 8008, True),
        ("node-4", node1, 8008, False),  # another cluster's member
        ("node-1", meta, 2379, True),  # etcd clients: every node
        ("node-1", meta, 2380, False),  # etcd peers: DCS members only
        ("node-2", node1, 5432, True),  # everything else: the intranet
        ("node-4", node1, 5433, True),
    ]
    seen = [(src, dst, port, _connects(deployed, src, dst, port)) for src, dst, port, _ in expected]
    assert seen == expected
    # From the host (in the intranet, not in the inventory): the control ports are closed.
    for ip, port in ((node1, 9630), (node1, 9631), (node1, 9100), (node1, 9101), (node1, 8008), (meta, 2380)):
        with socket.socket() as probe:
            probe.settimeout(5)
            assert probe.connect_ex((ip, port)) != 0, f"{ip}:{port} is open to the host"
    assert _answers(node1, 5433, _test_login(deployed)), "5433 must stay open to the intranet"


def _ssl_answer(ip: str, port: int) -> bool:
    """From this host: Postgres' (or Pgbouncer's) one-byte answer to an SSLRequest within 2 s."""
    try:
        with socket.create_connection((ip, port), timeout=2) as probe:
            probe.settimeout(2)
            probe.sendall(bytes.fromhex("0000000804d2162f"))
            return probe.recv(1) in (b"S", b"N")
    except OSError:
        return False


def test_a_primary_whose_patroni_stops_confirming_the_lock_goes_silent_until_it_does(deployed: Sandbox) -> None:
    """pigsalt-fence: the primary's client ports are guarded, a replica's are not. With the
    primary's Patroni stopped (SIGSTOP) longer than the lease, less than the ttl (so nobody
    takes over), its Postgres and Pgbouncer stop answering this host; once Patroni runs again
    and confirms the lock, they answer again, and the primary is still the leader."""
    members = _streaming(deployed)
    leader = next(str(name) for name, m in members.items() if m["role"] == "leader")
    node = next(n for n, inst in MEMBERS.items() if inst == leader)
    replica = next(n for n, inst in MEMBERS.items() if inst != leader)
    ip = NODE_IPS[node]

    def guarded(on: str) -> str:
        done = deployed.run(on, "nft", "list", "set", "inet", "pigsalt_fence", "guarded")
        assert done.returncode == 0, (on, done.stderr)
        return done.stdout

    assert _eventually(lambda: "5432" in guarded(node) and "6432" in guarded(node), timeout=30)
    assert "5432" not in guarded(replica)
    # The lease the keeper runs with (its unit's --lease, from the pillar).
    unit = deployed.run(node, "systemctl", "cat", "pigsalt-fence", check=True).stdout
    lease = float(re.search(r"--lease (\S+)", unit).group(1))  # type: ignore[union-attr]
    assert _ssl_answer(ip, 5432) and _ssl_answer(ip, 6432)
    pid = deployed.run(node, "systemctl", "show", "--property=MainPID", "--value", "patroni").stdout.strip()
    assert pid.isdigit() and pid != "0", pid
    deployed.run(node, "kill", "-STOP", pid, check=True)
    try:
        time.sleep(lease + 2)
        silent = not _ssl_answer(ip, 5432) and not _ssl_answer(ip, 6432)
        local = deployed.run(node, "runuser", "-u", "postgres", "--", "psql", "-XAtc", "SELECT 1").stdout.strip()
    finally:
        deployed.run(node, "kill", "-CONT", pid)
    assert silent, "the primary still answered after its lease ran out"
    assert local == "1", "the fence must leave local connections alone"
    assert _eventually(lambda: _ssl_answer(ip, 5432) and _ssl_answer(ip, 6432), timeout=60)
    after = _streaming(deployed)
    assert after[leader]["role"] == "leader", after


SLOW_NFT = (
    "mkdir -p /run/slow-nft /run/systemd/system/pigsalt-fence.service.d && "
    "printf '#!/bin/sh\\nsleep 2\\nexec /usr/sbin/nft \"$@\"\\n' > /run/slow-nft/nft && chmod 755 /run/slow-nft/nft && "
    "printf '[Service]\\nEnvironment=PATH=/run/slow-nft:/usr/sbin:/usr/bin:/sbin:/bin\\n' "
    "> /run/systemd/system/pigsalt-fence.service.d/slow-nft.conf && "
    "systemctl daemon-reload && systemctl restart pigsalt-fence"
)
# Stop the keeper while one of its nft commands runs (a child of its main process).
STOP_IN_NFT = (
    "pid=$(systemctl show -p MainPID --value pigsalt-fence); "
    "for i in $(seq 200); do [ -n \"$(cat /proc/$pid/task/*/children 2>/dev/null | tr -d ' ')\" ] && break; "
    "sleep 0.05; done; systemctl stop pigsalt-fence"
)


def test_a_fence_stopped_while_it_runs_nft_still_removes_its_table(deployed: Sandbox) -> None:
    """systemd's stop signals the keeper only (KillMode=mixed): the nft command it runs at that
    moment and the one that deletes its table both finish, so no fence is left behind (seen
    before: a stop in the middle of a lease renewal killed both, and the table, its lease empty,
    kept the primary's ports silent to the replicas). Each nft is made to take 2 s here."""
    leader = next(str(name) for name, m in _streaming(deployed).items() if m["role"] == "leader")
    node = next(n for n, inst in MEMBERS.items() if inst == leader)
    try:
        deployed.run(node, "sh", "-c", SLOW_NFT, check=True)
        assert _eventually(
            lambda: "5432" in deployed.run(node, "nft", "list", "set", "inet", "pigsalt_fence", "guarded").stdout,
            timeout=30,
        )
        show = ["systemctl", "show", "--value", "pigsalt-fence", "-p"]
        invocation = deployed.run(node, *show, "InvocationID", check=True).stdout.strip()
        stopped = deployed.run(node, "sh", "-c", STOP_IN_NFT, timeout=120)
        table = deployed.run(node, "nft", "list", "table", "inet", "pigsalt_fence")
        result = deployed.run(node, *show, "Result").stdout.strip()
        journal = deployed.run(
            node, "journalctl", "--no-pager", "-o", "cat", f"_SYSTEMD_INVOCATION_ID={invocation}"
        ).stdout
    finally:
        cleanup = "rm -rf /run/slow-nft /run/systemd/system/pigsalt-fence.service.d && systemctl daemon-reload"
        deployed.run(node, "sh", "-c", f"{cleanup} && systemctl start pigsalt-fence", check=True)
    assert stopped.returncode == 0, stopped.stderr
    assert table.returncode != 0, f"the stopped keeper left its table:\n{table.stdout}\n{journal}"
    assert result == "success", journal
    # The renewal in flight was not cut either (it was: "ERROR nft: exit -15").
    assert "ERROR" not in journal, journal
