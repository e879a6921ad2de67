"""Registration follows the running clusters: the role labels of Prometheus' targets and the DNS
name of a cluster without a VIP, from what each cluster's Patroni says now.

The inventory says which instance was meant to be the primary (``pg_role``); after a failover or
a switchover Patroni says which one is. ``prometheus.targets`` and ``dns.config`` on the meta
nodes render the inventory's targets and records through ``relabel`` and ``follow``, with the
answer of ``ask``: every cluster's ``GET /cluster``, asked of its members in turn over HTTPS
(the local CA) until one answers. A cluster whose Patroni does not answer (not deployed yet,
all members down) keeps the inventory's roles: registration never invents a role.

The meta pillar's ``pigsty:infra:registry`` lists what to ask (``registry``); the Salt reactor
re-applies both states when a member's Patroni reports a role change (``pigsty/pg/role_change``)
or a minion starts, so the labels and the name follow without a Salt command typed.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pigsalt.httpjson import Fetch, fetcher
from pigsalt.inventory.model import Inventory, UnknownNode

__all__ = ["EVENTS", "Decision", "ask", "decide", "follow", "record_sql", "registry", "relabel", "role_label"]

TIMEOUT = 3.0
# Clusters asked at once.
WORKERS = 8
# Prometheus' jobs whose targets carry an instance's role.
ROLE_JOBS = ("pgsql", "pgbouncer", "haproxy", "patroni")


def registry(inv: Inventory) -> dict[str, Any]:
    """``pigsty:infra:registry``: each cluster's Patroni URLs, and whether its DNS name follows
    the leader (a cluster without a VIP: with one, the name is the VIP's, which follows it)."""
    clusters = {}
    for cluster in inv.clusters:
        port = cluster.vars["patroni_port"]
        clusters[cluster.name] = {
            "patroni": [f"https://{inst.ip}:{port}" for inst in cluster.instances],
            "roles": {inst.name: inst.role for inst in cluster.instances},
            "dns_follows_leader": not (cluster.vip and cluster.vip.address),
        }
    return {"clusters": clusters}


def _members(urls: Sequence[str], fetch: Fetch) -> list[dict[str, Any]] | None:
    for url in urls:
        try:
            answer = fetch(url.rstrip("/") + "/cluster")
        except (OSError, ValueError):
            continue
        members = answer.get("members") if isinstance(answer, dict) else None
        if isinstance(members, list):
            return [m for m in members if isinstance(m, dict)]
    return None


def ask(
    reg: Mapping[str, Any], cafile: str | None, timeout: float = TIMEOUT, fetch: Fetch | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each cluster's members as its Patroni lists them now; a cluster none of whose members
    answers is left out. Without the CA certificate (a first deployment renders the DNS records
    before the CA exists) nothing can be verified, so nothing is asked."""
    clusters = dict(reg.get("clusters") or {})
    if not clusters:
        return {}
    try:
        get = fetch or fetcher(cafile, timeout)
    except (OSError, ssl.SSLError):
        return {}
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(clusters))) as pool:
        answers = dict(zip(clusters, pool.map(lambda c: _members(c["patroni"], get), clusters.values()), strict=True))
    return {name: members for name, members in answers.items() if members is not None}


def role_label(patroni_role: str | None, inventory_role: str) -> str:
    """Pigsty's ``role`` label for a member Patroni lists with ``patroni_role``: ``primary`` for
    the leader (a standby cluster's too), ``offline`` for an offline instance that follows,
    ``replica`` for any other follower; the inventory's role when Patroni does not list it."""
    if patroni_role in ("leader", "primary", "master", "standby_leader"):
        return "primary"
    if patroni_role is None:
        return inventory_role
    return "offline" if inventory_role == "offline" else "replica"


def _roles(reg: Mapping[str, Any], live: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for name, cluster in (reg.get("clusters") or {}).items():
        listed = {m.get("name"): m.get("role") for m in live.get(name) or []}
        for instance, inventory_role in cluster["roles"].items():
            roles[instance] = role_label(listed.get(instance), inventory_role) if name in live else inventory_role
    return roles


def relabel(
    targets: Mapping[str, Sequence[Mapping[str, Any]]],
    reg: Mapping[str, Any],
    live: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """The file-discovery ``targets`` (path → target groups) with each instance's ``role``
    label as Patroni says it now."""
    roles = _roles(reg, live)
    relabelled: dict[str, list[dict[str, Any]]] = {}
    for path, groups in targets.items():
        out = []
        for group in groups:
            labels = dict(group.get("labels") or {})
            if path.split("/", 1)[0] in ROLE_JOBS and labels.get("ins") in roles:
                labels["role"] = roles[labels["ins"]]
            out.append({**group, "labels": labels})
        relabelled[path] = out
    return relabelled


def follow(
    records: Sequence[Mapping[str, str]],
    reg: Mapping[str, Any],
    live: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[dict[str, str]]:
    """The DNS ``records`` (name, ip) with the name of each cluster without a VIP on its leader's
    address as Patroni says it now (the inventory's primary when Patroni does not answer)."""
    leaders: dict[str, str] = {}
    for name, cluster in (reg.get("clusters") or {}).items():
        if not cluster.get("dns_follows_leader"):
            continue
        leader = next(
            (m for m in live.get(name) or [] if role_label(m.get("role"), "replica") == "primary" and m.get("host")),
            None,
        )
        if leader is not None:
            leaders[name] = str(leader["host"])
    return [{**r, "ip": leaders.get(r["name"], r["ip"])} for r in records]


# What the reactor registers on: a minion's start (``salt/minion/<id>/start``) and a member's
# role change (``pigsty/pg/role_change``, fired by pgsql.events after Patroni's callback).
EVENTS = ("start", "role_change")
# Re-applied on the meta nodes: Prometheus' targets, the DNS records (with its reload) and
# the HAProxy index page.
# Nothing is re-applied on the member: Patroni's callback has switched its role-gated files
# (HBA rules, pigsalt.agent.hba_follow) already, and a state run there would collide with the
# operator's own.
META_STATES = ("prometheus.targets", "dns", "nginx.index")


@dataclass(frozen=True)
class Decision:
    """What one event registers: nothing (``accepted`` False, ``reason`` says why), or
    ``META_STATES`` on the meta nodes and the CMDB's registration rows (kind, name)."""

    minion: str
    event: str
    accepted: bool
    reason: str
    rows: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def decide(inv: Inventory, minion: str, event: str, claimed: Mapping[str, Any] | None = None) -> Decision:
    """Whether an event from ``minion`` (the id Salt authenticated: the event's ``id``) registers
    anything. A minion that is not in the inventory is never registered (and its key is left
    alone); a role change must come from the member it names (``claimed``: the event's
    ``cluster`` and ``instance``, when given). What is applied is derived from the inventory and
    Patroni, never from ``claimed``."""
    if event not in EVENTS:
        return Decision(minion, event, False, f"event {event!r} is not one of {', '.join(EVENTS)}")
    try:
        node = inv.node(minion)
    except (UnknownNode, KeyError):
        return Decision(minion, event, False, f"minion {minion} is not in the inventory: not registered")
    inst = node.instance
    if event == "role_change":
        if inst is None:
            return Decision(minion, event, False, f"minion {minion} holds no instance: its role change is ignored")
        claims = {k: str(v) for k, v in (claimed or {}).items() if k in ("cluster", "instance") and v is not None}
        holds = {"cluster": inst.cluster, "instance": inst.name}
        wrong = {k: v for k, v in claims.items() if v != holds[k]}
        if wrong:
            said = ", ".join(f"{k} {v}" for k, v in sorted(wrong.items()))
            return Decision(
                minion, event, False, f"minion {minion} claims {said} but holds {inst.name} of {inst.cluster}: ignored"
            )
    rows = [("node", node.name)] + ([("instance", inst.name)] if inst is not None else [])
    return Decision(
        minion,
        event,
        True,
        f"{event} of {minion}" + (f" ({inst.name} of {inst.cluster})" if inst is not None else ""),
        rows=tuple(rows),
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def record_sql(decision: Decision) -> str:
    """The CMDB's ``pigsty.registration`` rows of an accepted decision, upserted."""
    values = ", ".join(
        f"({_literal(kind)}, {_literal(name)}, 'registered', {_literal(decision.event)}, now())"
        for kind, name in decision.rows
    )
    return (
        "INSERT INTO pigsty.registration (kind, name, state, by, at) VALUES "
        + values
        + " ON CONFLICT (kind, name) DO UPDATE SET state = excluded.state, by = excluded.by, at = excluded.at;\n"
    )
