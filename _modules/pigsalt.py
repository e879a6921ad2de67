"""Execution module ``pigsalt``: a node's identity, and waits on facts for the orchestrations.

Runs on every minion and needs nothing but Salt and the Python standard library. Every wait
has a timeout and fails with a message naming what was awaited and the last thing seen, so an
orchestration step stops with the node and the cause instead of sleeping.
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__pillar__: dict[str, Any]
__grains__: dict[str, Any]
__salt__: dict[str, Callable[..., Any]]

__virtualname__ = "pigsalt"


def __virtual__() -> str:
    return __virtualname__


def identity() -> dict[str, Any]:
    """This node's identity: name, IP, whether it is a meta node, and its instance if any.

    CLI Example:

    .. code-block:: bash

        salt '*' pigsalt.identity
    """
    pigsty = __pillar__.get("pigsty")
    if not pigsty:
        raise CommandExecutionError("this minion has no pigsty pillar: it is not in the inventory")
    node = pigsty["node"]
    pg = pigsty.get("pg")
    return {
        "name": node["name"],
        "ip": node["ip"],
        "meta": node["meta"],
        "cluster": pg["cluster"] if pg else None,
        "instance": pg["instance"] if pg else None,
        "seq": pg["seq"] if pg else None,
        "inventory_role": pg["role"] if pg else None,
    }


#: The kinds of custom modules pigsalt ships (``_modules``, ``_states``, ``_grains``).
SYNCED = ("modules", "states", "grains")


def sync(saltenv: str = "base") -> dict[str, list[str]]:
    """pigsalt's custom modules, states and grains from the master, and a refresh of the
    minion's modules only when one changed: what ``pigsty.cluster`` runs first. Salt's
    ``saltutil.sync_all`` looks at some twenty kinds of module and refreshes the pillar even when
    nothing changed (~2.6 s on three members; this: ~1 s). The synced files, by kind.

    CLI Example:

    .. code-block:: bash

        salt '*' pigsalt.sync
    """
    found = {kind: list(__salt__[f"saltutil.sync_{kind}"](saltenv=saltenv, refresh=False)) for kind in SYNCED}
    if found["grains"]:
        __salt__["saltutil.refresh_grains"]()
    elif found["modules"] or found["states"]:
        __salt__["saltutil.refresh_modules"]()
    return found


def _wait(what: str, probe: Callable[[], tuple[bool, str]], timeout: float, interval: float) -> dict[str, Any]:
    start = time.monotonic()
    last = "not tried"
    while True:
        ok, last = probe()
        elapsed = round(time.monotonic() - start, 2)
        if ok:
            return {"ready": True, "what": what, "elapsed": elapsed, "seen": last}
        if elapsed >= float(timeout):
            raise CommandExecutionError(f"{what}: not ready after {timeout} s (last: {last})")
        time.sleep(float(interval))


def wait_tcp(host: str, port: int, timeout: float = 60, interval: float = 0.5) -> dict[str, Any]:
    """Wait until ``host:port`` accepts a TCP connection.

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.wait_tcp 10.10.10.10 2379 timeout=60
    """

    def probe() -> tuple[bool, str]:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True, "connected"
        except OSError as err:
            return False, str(err)

    return _wait(f"tcp {host}:{port}", probe, timeout, interval)


def wait_http(url: str, status: int = 200, timeout: float = 60, interval: float = 0.5) -> dict[str, Any]:
    """Wait until a GET of ``url`` answers with ``status``.

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.wait_http http://127.0.0.1/ timeout=30
    """

    def probe() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                code = answer.status
        except urllib.error.HTTPError as err:
            code = err.code
        except (urllib.error.URLError, OSError) as err:
            return False, str(getattr(err, "reason", err))
        return code == int(status), f"HTTP {code}"

    return _wait(f"GET {url}", probe, timeout, interval)


def _dns_query(name: str, server: str, port: int = 53) -> list[str]:
    """The A records ``server`` gives for ``name`` (one UDP query, no recursion needed)."""
    ident = random.randint(0, 0xFFFF)
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split(".")) + b"\0"
    packet = header + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, (server, int(port)))
        data, _ = sock.recvfrom(4096)
    rid, flags, _qd, ancount, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != ident:
        raise OSError("answer to another query")
    if flags & 0x000F:
        raise OSError(f"rcode {flags & 0x000F}")
    pos = 12 + len(qname) + 4
    found = []
    for _ in range(ancount):
        if data[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while data[pos]:
                pos += data[pos] + 1
            pos += 1
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", data[pos : pos + 10])
        pos += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(data[pos : pos + 4]))
        pos += length
    return found


def wait_dns(
    name: str, server: str, expect: str | None = None, timeout: float = 60, interval: float = 0.5
) -> dict[str, Any]:
    """Wait until DNS ``server`` answers ``name`` (with address ``expect`` when given).

    CLI Example:

    .. code-block:: bash

        salt node-1 pigsalt.wait_dns pg-test-1 10.10.10.10 expect=10.10.10.11
    """

    def probe() -> tuple[bool, str]:
        try:
            addresses = _dns_query(name, server)
        except OSError as err:
            return False, str(err)
        ok = bool(addresses) and (expect is None or expect in addresses)
        return ok, ",".join(addresses) or "no A record"

    return _wait(f"DNS {name} at {server}", probe, timeout, interval)


def wait_cmd(cmd: list[str], timeout: float = 60, interval: float = 1) -> dict[str, Any]:
    """Wait until the command (an argument list, no shell) exits 0.

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.wait_cmd '["etcdctl", "endpoint", "health"]' timeout=60
    """
    if isinstance(cmd, str) or not cmd:
        raise CommandExecutionError("cmd must be a non-empty argument list")

    def probe() -> tuple[bool, str]:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return False, str(err)
        out = (done.stdout + done.stderr).strip().splitlines()
        return done.returncode == 0, (out[-1] if out else f"exit {done.returncode}")

    return _wait(" ".join(cmd), probe, timeout, interval)


def vip_interface(member_ip: str, wanted: str | None = None) -> str:
    """The interface that carries the cluster's VIP on this node.

    ``wanted`` (the inventory's ``pg_vip_interface``/``vip_interface``) if the node has it, else the
    interface that carries ``member_ip``. An interface the node lacks is an error that names the
    node and the interfaces it has.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 pigsalt.vip_interface 10.10.10.11
        salt pg-test-1 pigsalt.vip_interface 10.10.10.11 wanted=eth0
    """
    from pigsalt.agent import AgentError
    from pigsalt.agent.vip import choose_interface

    try:
        return choose_interface(member_ip, wanted)
    except AgentError as err:
        raise CommandExecutionError(f"VIP on {__grains__.get('id', member_ip)}: {err}") from err


def apt_candidate(name: str) -> str:
    """The version apt would install for package ``name`` (the installed one when it is current),
    or ``""`` when no source this node uses holds it: how a state tells whether an optional
    package, such as one a user added to the offline repository, is there.

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.apt_candidate grafana
    """
    out = __salt__["cmd.run_stdout"](
        ["apt-cache", "policy", "--", name], python_shell=False, env={"LC_ALL": "C"}, output_loglevel="quiet"
    )
    for line in str(out).splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate":
            value = value.strip()
            return "" if value in ("", "(none)") else value
    return ""


def issued_certs(directory: str) -> dict[str, str]:
    """The certificates the local CA issued, by node name (``<directory>/<node>.crt``): what the
    CA node publishes in the mine, for each node's ``pki`` state to install its own.

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.issued_certs /etc/pki/pigsalt/issued
    """
    import pathlib

    found: dict[str, str] = {}
    for path in sorted(pathlib.Path(directory).glob("*.crt")):
        found[path.stem] = path.read_text(encoding="ascii")
    return found


def _registry() -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    from pigsalt.monitor import registry

    pigsty = __pillar__.get("pigsty") or {}
    reg = (pigsty.get("infra") or {}).get("registry")
    if reg is None:
        raise CommandExecutionError("this minion's pillar has no pigsty:infra:registry: it is not a meta node")
    return reg, registry.ask(reg, cafile=pigsty["tls"]["ca_cert"])


def registered_targets() -> dict[str, list[dict[str, Any]]]:
    """Prometheus' file-discovery targets of this meta node's pillar, with each instance's role
    label as its cluster's Patroni says now (``pigsalt.monitor.registry``).

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.registered_targets
    """
    from pigsalt.monitor import registry

    reg, live = _registry()
    return registry.relabel(__pillar__["pigsty"]["infra"]["prometheus"]["targets"], reg, live)


def registered_records() -> list[dict[str, str]]:
    """The DNS records of this meta node's pillar, each cluster without a VIP on its leader as
    its Patroni says now (``pigsalt.monitor.registry``).

    CLI Example:

    .. code-block:: bash

        salt meta pigsalt.registered_records
    """
    from pigsalt.monitor import registry

    reg, live = _registry()
    return registry.follow(__pillar__["pigsty"]["infra"]["dns"]["records"], reg, live)
