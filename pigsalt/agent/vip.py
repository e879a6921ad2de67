"""A keeper for a cluster's L2 VIP, standard library only: the address sits on the current primary.

Debian's vip-manager 1.0.2 (bookworm's, and trixie's too: its binary links only etcd's v2 client)
reads etcd through the v2 API only, where Patroni 4's etcd3 leader key does not exist. This keeper
asks the local Patroni instead, and runs as root in the nodes' Salt venv::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.vip \\
        --address 10.10.10.3/24 --interface host0 --patroni https://10.10.10.11:8008 \\
        --cacert /etc/pki/pigsalt/ca.crt

Every ``--interval`` seconds it asks ``GET /primary``. Patroni answers 200 only while this member
holds the leader lock and runs as primary; the keeper then reads the cluster's dynamic
configuration (``GET /config``, from the DCS) and, unless its ``pigsalt_vip`` key says otherwise,
adds the address (``ip addr add``) and announces it with gratuitous ARP. Any other answer, or
none, is a miss; after ``--release-after`` misses in a row the address is removed, so one slow
answer does not move it. On SIGTERM or SIGINT the address is removed before exit: a stopped
keeper leaves no VIP.

At a major-version upgrade two Patroni clusters, the source and its successor, run side by side
with the same VIP, and the successor's keepers run with ``--await-grant``. ``pigsalt upgrade``
hands the address over at the cutover by PATCHing each cluster's dynamic configuration: the
source's ``pigsalt_vip: released`` makes its primary's keeper let go (after ``--release-after``
polls, as for any miss), the successor's ``pigsalt_vip: granted`` lets its primary's keeper take
it. A keeper without ``--await-grant`` holds unless the key says ``released`` (a cluster that
never saw an upgrade has no key); one with it holds only where the key says ``granted``. Being
held back is logged once, when it starts.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import logging
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Literal, NoReturn, Protocol
from urllib.parse import urlsplit

from pigsalt.agent import AgentError
from pigsalt.agent.argtypes import count, seconds

__all__ = [
    "GATE_KEY",
    "IpAddress",
    "Keeper",
    "PrimaryProbe",
    "choose_interface",
    "garp_frame",
    "interface_mac",
    "main",
    "parse_address",
    "parse_addresses",
    "run_ip",
    "send_garp",
]

Transition = Literal["acquired", "released"]
# Runs ``ip`` with these arguments and returns its standard output, or raises AgentError.
IpRunner = Callable[[Sequence[str]], str]

log = logging.getLogger(__name__)

SYS_CLASS_NET = Path("/sys/class/net")
_IP_TIMEOUT = 5.0  # seconds for one ``ip`` command; it answers in milliseconds
_GARP_COUNT = 3
_GARP_GAP = 0.2  # seconds between two gratuitous ARPs
_ETH_P_ARP = 0x0806
_ETH_P_IP = 0x0800
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", re.IGNORECASE)


# Deciding


class Keeper:
    """Holds the address while ``probe`` says primary; every side effect is a callable, for tests.

    ``probe`` is True when this member may hold the address (``PrimaryProbe``: Patroni answers 200
    on ``/primary`` and the dynamic config does not deny it), False when not, None when it cannot
    be asked; False and None are both misses. ``present``, ``add`` and ``remove``
    read and change the address on the interface; ``announce`` sends the gratuitous ARPs and
    raises ``AgentError`` when it cannot (logged, not fatal: the address is on the interface).
    ``explain``, when given, says why the last miss came although Patroni answered 200 on
    ``/primary`` (the probe's upgrade gate), or None: the release names that cause instead.
    """

    def __init__(
        self,
        probe: Callable[[], bool | None],
        present: Callable[[], bool],
        add: Callable[[], None],
        remove: Callable[[], None],
        announce: Callable[[], None],
        *,
        release_after: int = 2,
        name: str = "the VIP",
        explain: Callable[[], str | None] | None = None,
    ) -> None:
        if release_after < 1:
            raise ValueError(f"release_after must be at least 1, not {release_after}")
        self._probe = probe
        self._present = present
        self._add = add
        self._remove = remove
        self._announce = announce
        self._release_after = release_after
        self._name = name
        self._explain = explain
        self._misses = 0

    def step(self) -> Transition | None:
        """Ask once and act on the answer; the transition made, or None when nothing changed."""
        answer = self._probe()
        if answer is True:
            self._misses = 0
            if self._present():
                return None
            self._add()
            log.info("acquired %s: Patroni answers 200 on /primary", self._name)
            try:
                self._announce()
            except AgentError as err:
                log.warning("%s is up, but not announced: %s", self._name, err)
            return "acquired"
        self._misses = min(self._misses + 1, self._release_after)
        if self._misses < self._release_after or not self._present():
            return None
        self._remove()
        why = self._explain() if self._explain is not None else None
        if why is not None:
            log.info("released %s: %s", self._name, why)
            return "released"
        last = "not primary" if answer is False else "Patroni unreachable"
        in_a_row = f"{self._misses} answers in a row" if self._misses > 1 else "the last answer"
        log.info("released %s: no 200 from Patroni on /primary in %s (last: %s)", self._name, in_a_row, last)
        return "released"

    def shutdown(self) -> Transition | None:
        """Remove the address if this node holds it, as the keeper stops; ``released`` or None."""
        if not self._present():
            return None
        self._remove()
        log.info("released %s: the keeper is stopping", self._name)
        return "released"

    def run(self, stop: threading.Event, interval: float) -> None:
        """Step every ``interval`` seconds until ``stop`` is set.

        A step that fails (``ip`` refused, say) is logged and tried again at the next poll; the
        same error is logged once, not at every poll.
        """
        failure: str | None = None
        while not stop.is_set():
            try:
                self.step()
            except AgentError as err:
                if str(err) != failure:
                    log.error("%s", err)
                failure = str(err)
            else:
                failure = None
            stop.wait(interval)


# Asking Patroni


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 200, not a pointer to some other server's opinion."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _reason(err: BaseException, timeout: float) -> str:
    """A short, lower-case cause for a transport error."""
    if isinstance(err, urllib.error.URLError):
        if isinstance(err.reason, str):
            return err.reason
        err = err.reason
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout:g} s"
    strerror = getattr(err, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror[0].lower() + strerror[1:]
    return str(err) or type(err).__name__


class _Unreadable(Exception):
    """A request that got no usable answer; the message names it and the cause."""


# The key ``pigsalt upgrade`` sets in each cluster's dynamic configuration at the cutover.
GATE_KEY = "pigsalt_vip"


class PrimaryProbe:
    """``GET /primary`` on the local Patroni, gated by ``GET /config``: True, False, or None when unreachable.

    False when ``/primary`` answers anything but 200 (``/config`` is then not asked: a replica
    costs one request a poll), or when it answers 200 and the dynamic configuration's
    ``pigsalt_vip`` denies the address: ``released``, or, with ``await_grant``, anything but
    ``granted``. None when either request gets no answer, ``/config`` answers anything but 200,
    or its body is not a JSON object. ``held_back`` says why the last miss came after a 200 on
    ``/primary``. A failure, and being held back, is logged when it starts or changes; not at
    every poll.
    """

    def __init__(self, base_url: str, timeout: float, *, await_grant: bool = False, cafile: str | None = None) -> None:
        base = base_url.rstrip("/")
        self.url = base + "/primary"
        self.config_url = base + "/config"
        self.timeout = float(timeout)
        self.await_grant = await_grant
        self.held_back: str | None = None
        # No proxy from the environment (the API is on the node itself), no redirects; over
        # https, the server's certificate verified against the local CA (``cafile``).
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), _NoRedirect()]
        if base.startswith("https://"):
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
        self._opener = urllib.request.build_opener(*handlers)
        self._failure: str | None = None
        self._denial: str | None = None

    def __call__(self) -> bool | None:
        self.held_back = None
        primary = False
        try:
            primary = self._get(self.url)[0] == 200
            config = self._config() if primary else None
        except _Unreadable as err:
            if primary:
                self.held_back = "Patroni answers 200 on /primary, but its dynamic config cannot be read"
            failure = str(err)
            if failure != self._failure:
                log.warning("%s", failure)
            self._failure = failure
            return None
        self._failure = None
        if config is None:
            self._denial = None
            return False
        return self._granted(config)

    def _get(self, url: str) -> tuple[int, bytes]:
        """The status and body of ``GET url``, whatever the status; ``_Unreadable`` without an answer."""
        try:
            with self._opener.open(url, timeout=self.timeout) as answer:
                return int(answer.status), answer.read()
        except urllib.error.HTTPError as err:
            err.close()
            return err.code, b""
        except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
            raise _Unreadable(f"GET {url}: {_reason(err, self.timeout)}") from None

    def _config(self) -> dict[str, object]:
        """The dynamic configuration; ``_Unreadable`` unless a 200 with a JSON object."""
        status, body = self._get(self.config_url)
        if status != 200:
            raise _Unreadable(f"GET {self.config_url}: HTTP {status}")
        try:
            config = json.loads(body)
        except ValueError:
            raise _Unreadable(f"GET {self.config_url}: answer is not JSON: {body[:80]!r}") from None
        if not isinstance(config, dict):
            raise _Unreadable(f"GET {self.config_url}: answer is not a JSON object")
        return config

    def _granted(self, config: dict[str, object]) -> bool:
        """Whether the config lets this primary hold the address; a new denial is logged."""
        value = config.get(GATE_KEY)
        if value == "granted" or (value != "released" and not self.await_grant):
            self._denial = None
            return True
        says = f"says {GATE_KEY}: {value if isinstance(value, str) else json.dumps(value)}"
        if not self.await_grant:
            self.held_back = f"Patroni's dynamic config {says}"
        else:
            if GATE_KEY not in config:
                says = f"has no {GATE_KEY}"
            self.held_back = f"waiting for the upgrade cutover to grant it (Patroni's dynamic config {says})"
        if self.held_back != self._denial:
            log.info("held back although Patroni answers 200 on /primary: %s", self.held_back)
        self._denial = self.held_back
        return False


# Changing the interface


def run_ip(args: Sequence[str], timeout: float = _IP_TIMEOUT) -> str:
    """Run ``ip`` (from PATH) with ``args``; its standard output, or ``AgentError`` naming the command."""
    argv = ["ip", *args]
    what = " ".join(argv)
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=True
        )
    except FileNotFoundError:
        raise AgentError(f"{what}: ip is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise AgentError(f"{what}: no answer within {timeout:g} s") from None
    except subprocess.CalledProcessError as err:
        detail = " ".join((err.stderr or "").split()) or f"exit status {err.returncode}"
        raise AgentError(f"{what}: {detail}") from None
    except OSError as err:
        raise AgentError(f"{what}: {_reason(err, timeout)}") from None
    return proc.stdout


def parse_addresses(output: str) -> list[ipaddress.IPv4Interface]:
    """The IPv4 addresses, with their prefix lengths, in the output of ``ip -4 -o addr show``.

    Each line reads ``2: host0    inet 10.10.10.11/24 brd 10.10.10.255 scope global host0\\ …``;
    a point-to-point address (``inet 10.0.0.1 peer 10.0.0.2/32``) has no prefix and counts as /32.
    ``ValueError`` on an ``inet`` field that is not an address.
    """
    found = []
    for line in output.splitlines():
        fields = line.split()
        if "inet" not in fields:
            continue
        at = fields.index("inet") + 1
        if at == len(fields):
            raise ValueError(f"no address after 'inet' in {line.strip()!r}")
        try:
            found.append(ipaddress.IPv4Interface(fields[at]))
        except ValueError:
            raise ValueError(f"{fields[at]!r} is not an IPv4 address, in {line.strip()!r}") from None
    return found


def choose_interface(member_ip: str, wanted: str | None, run: IpRunner = run_ip, sysfs: Path = SYS_CLASS_NET) -> str:
    """The interface for the VIP: ``wanted`` if this node has it, else the one carrying ``member_ip``.

    Pigsty's default ``eth0`` does not exist on many hosts (systemd-nspawn's is ``host0``): a name
    the node lacks is an error that lists the interfaces it has, instead of a keeper that fails
    later with 'Device "eth0" does not exist'.
    """
    names = sorted(p.name for p in sysfs.iterdir()) if sysfs.is_dir() else []
    if wanted is not None:
        if wanted in names:
            return wanted
        raise AgentError(f"interface {wanted!r} does not exist on this node (it has: {', '.join(names) or 'none'})")
    output = run(["-4", "-o", "addr", "show"])
    for line in output.splitlines():
        fields = line.split()
        if "inet" in fields and fields.index("inet") + 1 < len(fields):
            address = fields[fields.index("inet") + 1].split("/")[0]
            if address == member_ip and len(fields) > 1:
                return fields[1].rstrip(":").split("@")[0]
    raise AgentError(f"no interface of this node carries {member_ip} (it has: {', '.join(names) or 'none'})")


class IpAddress:
    """``address`` on ``interface``, read and changed with ``ip``; ``run`` runs it (a stand-in in tests)."""

    def __init__(self, address: ipaddress.IPv4Interface, interface: str, run: IpRunner = run_ip) -> None:
        self.address = address
        self.interface = interface
        self._run = run

    def present(self) -> bool:
        """Whether the interface has the address, with the same prefix length."""
        args = ["-4", "-o", "addr", "show", "dev", self.interface]
        output = self._run(args)
        try:
            return self.address in parse_addresses(output)
        except ValueError as err:
            raise AgentError(f"ip {' '.join(args)}: unexpected output: {err}") from None

    def add(self) -> None:
        self._run(["addr", "add", self.address.with_prefixlen, "dev", self.interface])

    def remove(self) -> None:
        self._run(["addr", "del", self.address.with_prefixlen, "dev", self.interface])


# Announcing


def garp_frame(mac: bytes, ip: str) -> bytes:
    """A gratuitous ARP: an Ethernet broadcast of an ARP request for ``ip`` from ``ip`` at ``mac``.

    42 bytes, unpadded (the driver pads to the Ethernet minimum): the 14-byte Ethernet header,
    then the 28-byte ARP request with the sender and target protocol addresses both ``ip`` and a
    zero target hardware address, as RFC 5227 announces an address.
    """
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
    spa = ipaddress.IPv4Address(ip).packed
    ethernet = b"\xff" * 6 + mac + struct.pack("!H", _ETH_P_ARP)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, _ETH_P_IP, 6, 4, 1, mac, spa, b"\x00" * 6, spa)
    return ethernet + arp


def interface_mac(interface: str, sysfs: Path = SYS_CLASS_NET) -> bytes:
    """The interface's hardware address, from ``/sys/class/net/IFACE/address``."""
    path = sysfs / interface / "address"
    try:
        text = path.read_text().strip()
    except OSError as err:
        raise AgentError(f"reading {path}: {_reason(err, 0)}") from None
    if not _MAC.fullmatch(text):
        raise AgentError(f"{path}: {text!r} is not an Ethernet address")
    return bytes.fromhex(text.replace(":", ""))


class PacketSocket(Protocol):
    """What ``send_garp`` needs of a socket."""

    def bind(self, address: tuple[str, int], /) -> None: ...

    def send(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


def _packet_socket() -> PacketSocket:
    """A raw Ethernet socket; protocol 0, so it receives nothing."""
    return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)


def send_garp(
    interface: str,
    ip: str,
    *,
    count: int = _GARP_COUNT,
    gap: float = _GARP_GAP,
    sysfs: Path = SYS_CLASS_NET,
    open_socket: Callable[[], PacketSocket] = _packet_socket,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send ``count`` gratuitous ARPs for ``ip`` on ``interface``, ``gap`` seconds apart; ``AgentError`` if not."""
    frame = garp_frame(interface_mac(interface, sysfs), ip)
    try:
        sock = open_socket()
        try:
            sock.bind((interface, 0))
            for n in range(count):
                if n:
                    sleep(gap)
                sock.send(frame)
        finally:
            sock.close()
    except OSError as err:
        raise AgentError(f"gratuitous ARP for {ip} on {interface}: {_reason(err, 0)}") from None


# The command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line on stderr and exit status 2: the usage is a ``--help`` away."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_address(text: str) -> ipaddress.IPv4Interface:
    """``ADDR/PREFIX`` (``10.10.10.3/24``) as an IPv4 interface address; the prefix length is required."""
    try:
        if "/" not in text:
            raise ValueError(text)
        address = ipaddress.IPv4Interface(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected an IPv4 address and prefix length, e.g. 10.10.10.3/24"
        ) from None
    network = address.network
    if network.prefixlen < 31 and address.ip in (network.network_address, network.broadcast_address):
        which = "network" if address.ip == network.network_address else "broadcast"
        raise argparse.ArgumentTypeError(f"{text!r}: {address.ip} is the {which} address of {network}")
    return address


def _interface(text: str) -> str:
    # The kernel's rule (dev_valid_name); it also keeps the name a single /sys path component.
    if not 0 < len(text) < 16 or text in {".", ".."} or any(c in text for c in "/:") or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r}: not a network interface name")
    return text


def _readable_file(text: str) -> str:
    try:
        with open(text, "rb"):
            return text
    except OSError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {(err.strerror or str(err)).lower()}") from None


def _patroni_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r}: expected Patroni's REST API URL, e.g. https://10.10.10.11:8008")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m pigsalt.agent.vip",
        description=(
            "Hold an L2 VIP on this node while the local Patroni answers 200 on /primary and the\n"
            "cluster's dynamic config (GET /config) lets it: not while it says pigsalt_vip: released,\n"
            "and with --await-grant only once it says pigsalt_vip: granted (pigsalt upgrade's cutover)."
        ),
        epilog=(
            "Example:\n  /opt/pigsalt/salt/bin/python -m pigsalt.agent.vip"
            " --address 10.10.10.3/24 --interface host0 --patroni https://10.10.10.11:8008"
            " --cacert /etc/pki/pigsalt/ca.crt\n"
            "The successor cluster's keeper, during a major-version upgrade: the same, with --await-grant."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--address", type=parse_address, required=True, metavar="ADDR/PREFIX", help="the VIP")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--interface", type=_interface, metavar="IFACE", help="where the VIP goes")
    where.add_argument(
        "--interface-of",
        type=lambda text: str(ipaddress.IPv4Address(text)),
        metavar="ADDR",
        help="put the VIP on the interface that carries this node's address ADDR",
    )
    parser.add_argument("--patroni", type=_patroni_url, required=True, metavar="URL", help="the local Patroni's API")
    parser.add_argument(
        "--cacert",
        type=_readable_file,
        default=None,
        metavar="FILE",
        help="the CA that signed Patroni's certificate, for an https:// URL (default: the system's)",
    )
    parser.add_argument(
        "--interval", type=seconds, default=1.0, metavar="S", help="seconds between two polls (%(default)g)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=2.0,
        metavar="S",
        help="seconds allowed for each of Patroni's answers (%(default)g)",
    )
    parser.add_argument(
        "--release-after",
        type=count,
        default=2,
        metavar="N",
        help="remove the VIP after N misses in a row (%(default)d)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="decide once and exit; one miss then releases, with no next poll to wait for",
    )
    parser.add_argument(
        "--await-grant",
        action="store_true",
        help=(
            "for the successor cluster of a major-version upgrade: hold the VIP only once Patroni's"
            " dynamic config says pigsalt_vip: granted (without it: unless it says pigsalt_vip: released)"
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="pigsalt-vip: %(levelname)s: %(message)s")
    address: ipaddress.IPv4Interface = args.address
    try:
        interface: str = args.interface or choose_interface(args.interface_of, None)
    except AgentError as err:
        logging.error("%s", err)
        return 2
    name = f"{address.with_prefixlen} on {interface}"
    on_interface = IpAddress(address, interface)

    def announce() -> None:
        send_garp(interface, str(address.ip))

    probe = PrimaryProbe(args.patroni, args.timeout, await_grant=args.await_grant, cafile=args.cacert)
    keeper = Keeper(
        probe=probe,
        present=on_interface.present,
        add=on_interface.add,
        remove=on_interface.remove,
        announce=announce,
        release_after=1 if args.once else args.release_after,
        name=name,
        explain=lambda: probe.held_back,
    )
    if args.once:
        try:
            transition = keeper.step()
        except AgentError as err:
            log.error("%s", err)
            return 1
        if transition is None:
            log.info("no change for %s", name)
        return 0

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    gate = f"says {GATE_KEY}: granted" if args.await_grant else f"does not say {GATE_KEY}: released"
    log.info(
        "keeping %s while %s answers 200 and /config %s (every %g s; released after %d misses in a row)",
        name,
        probe.url,
        gate,
        args.interval,
        args.release_after,
    )
    released = False
    try:
        keeper.run(stop, args.interval)
    finally:
        if received:
            log.info("stopping on %s", signal.Signals(received[0]).name)
        try:
            keeper.shutdown()
            released = True
        except AgentError as err:
            log.error("%s may still be on this node: %s", name, err)
        # Restored only now: a second signal must not cut the release short.
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if released else 1


if __name__ == "__main__":
    sys.exit(main())
