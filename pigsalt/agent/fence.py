"""The lease fence: a primary whose Patroni stops confirming the leader lock goes silent on its
client ports when a lease held in the kernel runs out, standard library and ``nft`` only.

Why: without a watchdog (containers have none, and many VMs), a primary that stalls longer than
the lock's ttl, frozen, paused or starved, wakes up still a primary. Another member has been
promoted meanwhile, but for the moment before its own Patroni wakes, reads the DCS and demotes
it, the old Postgres commits what queued clients send and acknowledges it; pg_rewind then
discards those writes. Nothing in user space can win that race: every process of the node wakes
at once. The kernel can, because its timers do not stall with the processes.

How: this keeper owns the nftables table ``inet pigsalt_fence``, which holds two sets of TCP
ports and one output rule::

    guarded  the client ports of this node (Postgres, Pgbouncer, HAProxy's services), while
             its Postgres is the primary
    lease    the same ports, each with a timeout of ``--lease`` seconds
    rule     drop what leaves a guarded port for another host, unless the port's lease runs

Every ``--interval`` seconds the keeper asks the local Patroni ``GET /primary``, which answers
200 only while Patroni holds the leader lock and its Postgres runs as primary. Then the lease is
renewed (one nft transaction: flushed and added again) and the ports are guarded. An answer
naming another role (a replica, a demoted member) removes the guard. Anything else, an answer
without the lock or no answer at all, renews nothing: after ``--lease`` seconds without a
confirmation the kernel expires the lease and the primary's answers stop leaving the node, so a
client never receives the acknowledgement of a write that a stale primary commits. The first
confirmation of the lock, or the demotion, lifts the fence.

``--lease`` must end before another member can be promoted: pigsalt's pillar sets it to
``ttl - loop_wait - retry_timeout - 1`` (Patroni renews the lock every ``loop_wait`` and gives
up after ``retry_timeout``). The loopback interface is never fenced (HAProxy reaching the
local Pgbouncer, the exporters). On SIGTERM or SIGINT the table is deleted: a stopped keeper
leaves no fence. A keeper that is killed leaves its table, so a primary it guarded is fenced
when the lease ends until the keeper runs again (systemd restarts it).

Runs as root in the nodes' Salt venv::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.fence --patroni https://10.10.10.11:8008 \\
        --cacert /etc/pki/pigsalt/ca.crt --ports 5432,6432,5433,5434,5436,5438 --lease 9
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Literal, NoReturn

from pigsalt.agent import AgentError
from pigsalt.agent.argtypes import seconds

__all__ = ["TABLE", "Fence", "Verdict", "main", "parse_ports", "probe", "ruleset"]

log = logging.getLogger(__name__)

TABLE = "pigsalt_fence"
_NFT_TIMEOUT = 5.0  # seconds for one nft transaction; it takes milliseconds
# What a poll of Patroni says about the fence.
Verdict = Literal["confirmed", "not-primary", "unconfirmed"]
# Runs one nft transaction (a script on standard input), or raises AgentError.
NftRunner = Callable[[str], None]


def parse_ports(text: str) -> tuple[int, ...]:
    """``5432,6432,5433`` as sorted, distinct TCP ports."""
    try:
        ports = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ports") from None
    if not ports or not all(0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: ports are 1-65535, at least one")
    return tuple(ports)


def ruleset(table: str = TABLE) -> str:
    """The table as one nft transaction, created empty (any earlier one replaced)."""
    return (
        f"table inet {table}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        "  set guarded { type inet_service; }\n"
        "  set lease { type inet_service; flags timeout; }\n"
        "  chain output {\n"
        "    type filter hook output priority filter; policy accept;\n"
        '    oifname "lo" accept\n'
        "    tcp sport @guarded tcp sport != @lease counter drop\n"
        "  }\n"
        "}\n"
    )


def run_nft(script: str) -> None:
    """``nft -f -`` with ``script``: one atomic transaction."""
    try:
        done = subprocess.run(
            ["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=_NFT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AgentError(f"nft: {err}") from None
    if done.returncode != 0:
        raise AgentError(f"nft: {done.stderr.strip() or f'exit {done.returncode}'}")


def probe(url: str, timeout: float, cafile: str | None = None) -> Callable[[], Verdict]:
    """A poll of ``GET url`` (the local Patroni's ``/primary``): ``confirmed`` on 200,
    ``not-primary`` when the answer names a role other than primary, ``unconfirmed`` otherwise
    (a primary without the lock, an unreadable answer, no answer)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if url.startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    failure: list[str] = []

    def poll() -> Verdict:
        try:
            with opener.open(url, timeout=timeout) as answer:
                status, body = int(answer.status), answer.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
            err.close()
        except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
            reason = f"GET {url}: {getattr(err, 'reason', err)}"
            if failure != [reason]:
                log.warning("%s", reason)
                failure[:] = [reason]
            return "unconfirmed"
        failure.clear()
        if status == 200:
            return "confirmed"
        try:
            role = json.loads(body).get("role")
        except (ValueError, AttributeError):
            role = None
        return "unconfirmed" if role in (None, "primary", "master") else "not-primary"

    return poll


class Fence:
    """The keeper's state and its nft transactions; ``poll`` is one round."""

    def __init__(
        self, ports: Sequence[int], lease: float, check: Callable[[], Verdict], nft: NftRunner = run_nft
    ) -> None:
        self.ports = tuple(ports)
        self.lease = lease
        self.check = check
        self.nft = nft
        self.guarded = False
        self.fenced_logged = False

    def _elements(self, timeout: bool) -> str:
        suffix = f" timeout {max(1, int(self.lease * 1000))}ms" if timeout else ""
        return "{ " + ", ".join(f"{port}{suffix}" for port in self.ports) + " }"

    def arm(self) -> None:
        """The table, empty: nothing guarded until Patroni confirms the lock."""
        self.nft(ruleset())
        self.guarded = False

    def disarm(self) -> None:
        self.nft(f"table inet {TABLE}\ndelete table inet {TABLE}\n")
        self.guarded = False

    def poll(self) -> Verdict:
        verdict = self.check()
        if verdict == "confirmed":
            self.nft(
                f"flush set inet {TABLE} lease\n"
                f"add element inet {TABLE} lease {self._elements(timeout=True)}\n"
                f"add element inet {TABLE} guarded {self._elements(timeout=False)}\n"
            )
            if not self.guarded or self.fenced_logged:
                log.info("Patroni confirms the leader lock: ports %s guarded, lease %gs", self.ports, self.lease)
            self.guarded, self.fenced_logged = True, False
        elif verdict == "not-primary":
            if self.guarded:
                self.nft(f"flush set inet {TABLE} guarded\nflush set inet {TABLE} lease\n")
                log.info("Postgres is no longer the primary: ports unguarded")
            self.guarded, self.fenced_logged = False, False
        elif self.guarded and not self.fenced_logged:
            log.warning("Patroni does not confirm the leader lock: the ports go silent when the lease runs out")
            self.fenced_logged = True
        return verdict


def run(fence: Fence, interval: float, stop: threading.Event) -> None:
    """Arm, poll every ``interval`` until ``stop``, disarm. A failed nft transaction is logged
    and retried at the next poll; a failure to arm ends the keeper (systemd restarts it)."""
    fence.arm()
    try:
        while not stop.is_set():
            try:
                fence.poll()
            except AgentError as err:
                log.error("%s", err)
            stop.wait(interval)
    finally:
        fence.disarm()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="pigsalt.agent.fence", description=__doc__.splitlines()[0])
    parser.add_argument("--patroni", required=True, help="the local Patroni's REST API base URL")
    parser.add_argument("--cacert", help="the CA that signed Patroni's certificate (https)")
    parser.add_argument("--ports", required=True, type=parse_ports, help="client ports to guard, comma-separated")
    parser.add_argument("--lease", required=True, type=seconds, help="seconds a confirmation of the lock holds")
    parser.add_argument("--interval", type=seconds, default=1.0, help="seconds between two polls (default 1)")
    args = parser.parse_args(argv)
    if args.interval >= args.lease:
        parser.error(f"--interval ({args.interval:g}) must be shorter than --lease ({args.lease:g})")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    check = probe(args.patroni.rstrip("/") + "/primary", timeout=min(args.interval * 2, args.lease), cafile=args.cacert)
    try:
        run(Fence(args.ports, args.lease, check), args.interval, stop)
    except AgentError as err:
        log.error("%s", err)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
