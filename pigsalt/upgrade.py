"""``pigsalt upgrade``: move a cluster to a new PostgreSQL major on its successor cluster.

The successor is declared in the inventory (``pg_upgrade_from: SOURCE``, other nodes, the new
release) and deployed like any cluster. From the Salt master this module then drives the
``pgupgrade`` execution module on the successor's primary:

1. ``check``: what blocks logical replication (no primary key, unlogged tables, large objects,
   extensions, roles, ``wal_level``);
2. ``start``: the schema copied, every database subscribed; ``progress`` until every table is
   synchronized and the successor is close behind;
3. a typed confirmation, then the cutover: the source frozen (read-only, sessions ended), the
   successor caught up to its last WAL position, the sequences copied, the VIP handed over
   through Patroni's dynamic configuration (``pigsalt_vip``: the source's keeper releases it,
   the successor's holds it), the subscriptions and publications dropped.

Until the cutover ``abort`` is the way back: subscriptions and publications dropped, the source
untouched. Where the run stands is read from the servers each time (subscriptions, the source's
read-only flag, the VIP grant); nothing is written beside the inventory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pigsalt.agent.vip import GATE_KEY as VIP_KEY
from pigsalt.errors import PigsaltError
from pigsalt.orch import Runner

__all__ = ["Pair", "Runner", "call", "find_pair", "hand_over_vip", "vip_grants", "wait_synchronized"]

# Close enough behind to cut over: the rest is applied while the source is frozen.
READY_BEHIND_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Pair:
    """The source cluster, its successor, and the minions that run each."""

    source: str
    successor: str
    version: int
    successor_leader: str
    source_minions: tuple[str, ...]
    successor_minions: tuple[str, ...]


def _salt_json(runner: Runner, argv: Sequence[str], timeout: float = 300) -> dict[str, Any]:
    code, out, err = runner(["salt", "--out=json", "--static", *argv], timeout)
    try:
        found = json.loads(out) if out.strip() else {}
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        detail = " ".join((err or out).split())[-300:]
        raise PigsaltError(f"salt {' '.join(argv[:2])} failed: {detail or f'exit {code}'}")
    return found


def _one(found: Mapping[str, Any], minion: str, what: str) -> Any:
    value = found.get(minion)
    if value is None:
        raise PigsaltError(f"{what}: {minion} did not answer")
    if isinstance(value, str) and (value.startswith("ERROR") or "Traceback" in value or "Error" in value[:80]):
        raise PigsaltError(f"{what} on {minion}: {' '.join(value.split())[-400:]}")
    return value


def find_pair(runner: Runner, source: str, version: int) -> Pair:
    """The successor declared for ``source``, checked to run PostgreSQL ``version``."""
    items = "pigsty:pg:cluster,pigsty:pg:version,pigsty:pg:upgrade_from,pigsty:pg:upgrade_to"
    found = _salt_json(
        runner, ["-I", "pigsty:pg:cluster:*", "pillar.item", *items.split(","), "unmask=True"], timeout=120
    )
    by_cluster: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for minion, item in sorted(found.items()):
        if isinstance(item, Mapping):
            by_cluster.setdefault(str(item.get("pigsty:pg:cluster")), []).append((minion, item))
    if source not in by_cluster:
        raise PigsaltError(f"cluster {source!r} has no node answering (clusters: {', '.join(sorted(by_cluster))})")
    successors = sorted(
        {
            str(i.get("pigsty:pg:cluster"))
            for items_ in by_cluster.values()
            for _, i in items_
            if i.get("pigsty:pg:upgrade_from") == source
        }
    )
    if not successors:
        raise PigsaltError(
            f"no cluster declares pg_upgrade_from: {source}: add its successor to the inventory "
            "(other nodes, node_os and pg_version of the new release; docs/upgrade.md) and deploy it"
        )
    successor = successors[0]
    versions = {int(i.get("pigsty:pg:version") or 0) for _, i in by_cluster[successor]}
    if versions != {version}:
        have = ", ".join(str(v) for v in sorted(versions))
        raise PigsaltError(f"--to {version}: the successor {successor} runs PostgreSQL {have}")
    leaders = _salt_json(runner, ["-I", f"pigsty:pg:cluster:{successor}", "patroni.is_leader"], timeout=120)
    leader = [m for m, v in sorted(leaders.items()) if v is True]
    if len(leader) != 1:
        raise PigsaltError(f"the successor {successor} has no single leader (answers: {leaders}); deploy it first")
    return Pair(
        source=source,
        successor=successor,
        version=version,
        successor_leader=leader[0],
        source_minions=tuple(m for m, _ in by_cluster[source]),
        successor_minions=tuple(m for m, _ in by_cluster[successor]),
    )


def call(runner: Runner, pair: Pair, function: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    """``pgupgrade.FUNCTION`` on the successor's leader; its return value."""
    found = _salt_json(
        runner, [f"--timeout={int(timeout)}", pair.successor_leader, f"pgupgrade.{function}", *args], timeout + 60
    )
    value = _one(found, pair.successor_leader, f"pgupgrade.{function}")
    if not isinstance(value, dict):
        raise PigsaltError(f"pgupgrade.{function} on {pair.successor_leader}: {value}")
    return value


def vip_grants(runner: Runner, pair: Pair) -> tuple[Any, Any]:
    """``pigsalt_vip`` in the dynamic config of the source and of the successor."""
    src = _salt_json(runner, [pair.source_minions[0], "patroni.config"])
    dst = _salt_json(runner, [pair.successor_leader, "patroni.config"])
    src_conf = _one(src, pair.source_minions[0], "patroni.config")
    dst_conf = _one(dst, pair.successor_leader, "patroni.config")
    return (src_conf or {}).get(VIP_KEY), (dst_conf or {}).get(VIP_KEY)


def hand_over_vip(runner: Runner, pair: Pair) -> None:
    """The source's keepers release the VIP, the successor's hold it."""
    for minion, value in ((pair.source_minions[0], "released"), (pair.successor_leader, "granted")):
        found = _salt_json(runner, [minion, "patroni.patch_config", json.dumps({VIP_KEY: value})])
        _one(found, minion, "patroni.patch_config")


def wait_synchronized(
    runner: Runner, pair: Pair, report: Callable[[str], None], timeout: float, interval: float = 2
) -> dict[str, Any]:
    """Poll ``progress`` until every table is synchronized and each database is close behind."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = call(runner, pair, "progress")["databases"]
        lines = []
        ready = True
        for db, p in sorted(found.items()):
            behind = p.get("behind_bytes")
            shown = "?" if behind is None else behind
            lines.append(f"{db}: {p['ready']}/{p['tables']} tables synchronized, {shown} bytes behind")
            ready = (
                ready
                and p["subscribed"]
                and p["ready"] == p["tables"]
                and behind is not None
                and behind <= READY_BEHIND_BYTES
            )
        report("; ".join(lines) or "no database to move")
        if ready:
            return found
        if time.monotonic() > deadline:
            raise PigsaltError(f"not synchronized after {timeout:.0f} s: {'; '.join(lines)}")
        time.sleep(interval)
