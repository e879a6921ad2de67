"""pigsalt-fence's kernel side, for real: two network namespaces joined by a veth pair, a TCP
server in one behind the fence's nftables table, a client in the other. The lease runs out in
the kernel while nobody renews it, and the server goes silent; a renewal brings it back.

Needs root, ``ip`` and ``nft`` (``make deps`` installs nftables); the namespaces and the veth pair
are removed whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from pigsalt.agent.fence import TABLE, Fence, ruleset

PORT = 15432
SERVER_IP, CLIENT_IP = "10.251.0.1", "10.251.0.2"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
    reason="needs root, ip and nft (make deps installs nftables) to build network namespaces",
)

SERVER = f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT}))
s.listen(16)
while True:
    c, _ = s.accept()
    c.sendall(b"ok")
    c.close()
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:6]
    server, client = f"pigsalt-fence-s-{tag}", f"pigsalt-fence-c-{tag}"
    proc = None
    try:
        ip("netns", "add", server)
        ip("netns", "add", client)
        ip("link", "add", f"fs{tag}", "netns", server, "type", "veth", "peer", "name", f"fc{tag}", "netns", client)
        for ns, dev, addr in ((server, f"fs{tag}", SERVER_IP), (client, f"fc{tag}", CLIENT_IP)):
            ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        proc = subprocess.Popen(["ip", "netns", "exec", server, sys.executable, "-c", SERVER])
        yield server, client
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)


def in_ns(ns: str, script: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True, timeout=10)


def answers(client: str) -> bool:
    """Whether the server's greeting reaches the client within 1 s."""
    code = (
        "import socket, sys\n"
        "try:\n"
        f"    s = socket.create_connection(('{SERVER_IP}', {PORT}), timeout=1)\n"
        "    sys.exit(0 if s.recv(2) == b'ok' else 1)\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    done = subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", code], timeout=10, check=False)
    return done.returncode == 0


def wait_answers(client: str, want: bool, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(client) == want:
            return True
        time.sleep(0.2)
    return False


def test_a_lease_that_runs_out_silences_the_guarded_port_until_renewed(namespaces: tuple[str, str]) -> None:
    server, client = namespaces
    assert wait_answers(client, True), "the test server never answered without a fence"
    fence = Fence((PORT,), 2, lambda: "confirmed", lambda script: in_ns(server, script))
    fence.arm()
    fence.poll()  # Patroni confirmed the lock: a 2 s lease, the port guarded
    assert answers(client), "a guarded port with a running lease must answer"
    time.sleep(2.5)  # nobody renews: the node is frozen, or its Patroni has lost the lock
    assert not answers(client), "the lease ran out in the kernel, yet the port still answered"
    fence.poll()  # the lock confirmed again
    assert answers(client), "a renewed lease must lift the fence"


def test_a_replica_and_a_disarmed_fence_never_silence_anything(namespaces: tuple[str, str]) -> None:
    server, client = namespaces
    assert wait_answers(client, True)
    fence = Fence((PORT,), 2, lambda: "not-primary", lambda script: in_ns(server, script))
    fence.arm()
    fence.poll()
    time.sleep(2.5)
    assert answers(client), "a port that is not guarded was fenced"
    fence.disarm()
    listed = subprocess.run(
        ["ip", "netns", "exec", server, "nft", "list", "table", "inet", TABLE], capture_output=True, check=False
    )
    assert listed.returncode != 0, "disarm left the table behind"
    assert ruleset().count("drop") == 1
