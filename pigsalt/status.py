"""``pigsalt status``: every cluster on one screen, from what the running system says.

Gathered on the master by the ``pigsalt.status`` runner (the meta node reaches every member's
Patroni over HTTPS with the local CA, and Prometheus on its own port) and printed by the CLI:

- each cluster's members as Patroni's ``GET /cluster`` lists them (role, state, timeline, lag),
  asked of the members in turn until one answers;
- the VIP's holder, from the members' addresses (Salt's ``network.ip_addrs``);
- each HAProxy service's healthy backends, from Prometheus' ``haproxy_server_status`` (every
  member's HAProxy is scraped: a server counts as healthy where any member's HAProxy sees it UP,
  and the number of HAProxies that agree is shown);
- each cluster's newest backups and last archived WAL (the backup metrics, through Prometheus);
- each exporter's scrape health (Prometheus' active targets) and the firing alerts.

The gathering (``gather``) and the picture (``summarize``, ``render``) are separate: the first
talks to the network, the others are pure functions of what it brought back, so they are tested
on recorded answers.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pigsalt.backup.info import human_size
from pigsalt.httpjson import Fetch, fetcher

__all__ = ["ClusterSpec", "gather", "render", "summarize"]

PROMETHEUS = "http://127.0.0.1:9090"
TIMEOUT = 5.0
BACKUP_QUERIES = {
    "backups": "max by (stanza, type) (pigsalt_backup_last_good_seconds)",
    "archived": (
        "max by (stanza) (pigsalt_archive_last_archived_seconds and on (instance) pigsalt_archive_primary == 1)"
    ),
}


@dataclass(frozen=True)
class ClusterSpec:
    """What the inventory says a cluster is: its members (instance → node name and IP), its
    Patroni port, its VIP and its services (name → port)."""

    name: str
    members: Mapping[str, tuple[str, str]]
    patroni_port: int
    vip: str | None = None
    services: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_pillar(cls, pillar: Mapping[str, Any], nodes: Mapping[str, str]) -> ClusterSpec:
        """From one member's compiled pillar; ``nodes``: each member's IP → its node name."""
        pg = pillar["pigsty"]["pg"]
        members = {str(m["name"]): (nodes.get(m["ip"], m["ip"]), str(m["ip"])) for m in pg["members"]}
        vip = (pg.get("vip") or {}).get("address")
        return cls(
            name=str(pg["cluster"]),
            members=dict(sorted(members.items())),
            patroni_port=int(pg["patroni"]["port"]),
            vip=str(vip) if vip else None,
            services={str(s["name"]): int(s["port"]) for s in pg["services"]},
        )


def _fetcher(cafile: str | None) -> Fetch:
    return fetcher(cafile, TIMEOUT)


def _patroni(spec: ClusterSpec, fetch: Fetch) -> dict[str, Any]:
    """The first member's answer to ``GET /cluster``, or the errors of all."""
    errors = []
    for _, ip in spec.members.values():
        url = f"https://{ip}:{spec.patroni_port}/cluster"
        try:
            return {"answer": fetch(url)}
        except (OSError, ValueError) as err:
            errors.append(f"{ip}: {getattr(err, 'reason', err)}")
    return {"error": "; ".join(errors) or "no member"}


def _prometheus(base: str, fetch: Fetch) -> dict[str, Any]:
    found: dict[str, Any] = {}
    queries = {
        "targets": "/api/v1/targets?state=active",
        "alerts": "/api/v1/alerts",
        "haproxy": "/api/v1/query?" + urllib.parse.urlencode({"query": 'haproxy_server_status{state="UP"} == 1'}),
    }
    for key, path in queries.items():
        try:
            found[key] = fetch(base + path).get("data")
        except (OSError, ValueError) as err:
            found["error"] = f"{base}: {getattr(err, 'reason', err)}"
            break
    # Backups (pigsalt.agent.backup_metrics): a part that does not answer shows as unknown.
    for key, query in BACKUP_QUERIES.items():
        if "error" in found:
            break
        try:
            found[key] = fetch(base + "/api/v1/query?" + urllib.parse.urlencode({"query": query})).get("data")
        except (OSError, ValueError):
            found[key] = None
    return found


def gather(
    specs: Sequence[ClusterSpec],
    addresses: Mapping[str, Any],
    cafile: str | None,
    prometheus: str = PROMETHEUS,
    fetch: Callable[[str | None], Fetch] = _fetcher,
) -> dict[str, Any]:
    """Everything ``summarize`` needs, as plain data (the runner returns it as JSON).
    ``addresses``: each member node's ``network.ip_addrs`` (a list, or Salt's error text)."""
    tls, plain = fetch(cafile), fetch(None)
    return {
        "clusters": [
            {
                "spec": {
                    "name": s.name,
                    "members": {k: list(v) for k, v in s.members.items()},
                    "patroni_port": s.patroni_port,
                    "vip": s.vip,
                    "services": dict(s.services),
                },
                "patroni": _patroni(s, tls),
            }
            for s in specs
        ],
        "addresses": dict(addresses),
        "prometheus": _prometheus(prometheus, plain),
    }


def _lag(value: Any) -> str:
    if value in (None, "", "unknown"):
        return "-"
    return human_size(round(float(value)))


def summarize(data: Mapping[str, Any], only: str | None = None) -> dict[str, Any]:
    """The picture: per cluster its members, leader, VIP holder, services and exporters, plus
    the firing alerts (``only``: that cluster's alone); every part that could not be read says
    why instead."""
    prom = data.get("prometheus") or {}
    targets = (prom.get("targets") or {}).get("activeTargets") or []
    alerts = [
        a
        for a in (prom.get("alerts") or {}).get("alerts") or []
        if a.get("state") == "firing" and (only is None or (a.get("labels") or {}).get("cls") == only)
    ]
    up_servers = [r.get("metric", {}) for r in (prom.get("haproxy") or {}).get("result") or []]
    addresses = data.get("addresses") or {}
    clusters = []
    for entry in data.get("clusters") or []:
        spec = entry["spec"]
        name = spec["name"]
        patroni = entry.get("patroni") or {}
        answer = patroni.get("answer") or {}
        listed = {m.get("name"): m for m in answer.get("members") or []}
        members = []
        for instance, (node, ip) in spec["members"].items():
            m = listed.get(instance) or {}
            members.append(
                {
                    "instance": instance,
                    "node": node,
                    "ip": ip,
                    "role": m.get("role", "absent" if answer else "?"),
                    "state": m.get("state", "-"),
                    "timeline": m.get("timeline"),
                    "lag": m.get("lag"),
                }
            )
        leader = next((m["instance"] for m in members if m["role"] in ("leader", "standby_leader")), None)
        holders = [
            m["instance"]
            for m in members
            if spec.get("vip") and isinstance(addresses.get(m["node"]), list) and spec["vip"] in addresses[m["node"]]
        ]
        services = []
        for svc, port in spec["services"].items():
            seen = [s for s in up_servers if s.get("proxy") == svc]
            services.append(
                {
                    "service": svc,
                    "port": port,
                    "up": sorted({str(s.get("server")) for s in seen}),
                    "haproxies": len({s.get("instance") for s in seen}),
                }
            )
        backup = _backup(name, prom)
        ips = {ip for _, ip in spec["members"].values()}
        scraped = [t for t in targets if (t.get("labels") or {}).get("cls") == name or _target_ip(t) in ips]
        clusters.append(
            {
                "cluster": name,
                "leader": leader,
                "patroni_error": patroni.get("error"),
                "members": members,
                "vip": spec.get("vip"),
                "vip_holders": holders,
                "backup": backup,
                "services": services,
                "exporters": {
                    "up": sum(1 for t in scraped if t.get("health") == "up"),
                    "total": len(scraped),
                    "down": sorted(
                        f"{(t.get('labels') or {}).get('job')} {(t.get('labels') or {}).get('instance')}: "
                        f"{t.get('lastError') or t.get('health')}"
                        for t in scraped
                        if t.get("health") != "up"
                    ),
                },
            }
        )
    return {
        "clusters": clusters,
        "alerts": sorted(
            (
                {
                    "alert": (a.get("labels") or {}).get("alertname"),
                    "cluster": (a.get("labels") or {}).get("cls"),
                    "instance": (a.get("labels") or {}).get("ins") or (a.get("labels") or {}).get("instance"),
                    "job": (a.get("labels") or {}).get("job"),
                    "severity": (a.get("labels") or {}).get("severity"),
                    "since": a.get("activeAt"),
                }
                for a in alerts
            ),
            key=lambda a: (str(a["cluster"]), str(a["alert"]), str(a["instance"])),
        ),
        "prometheus_error": prom.get("error"),
    }


def _backup(cluster: str, prom: Mapping[str, Any]) -> dict[str, Any] | None:
    """The cluster's newest good backup of each type and its last archived WAL, as epoch seconds,
    with Prometheus' evaluation time (``now``); None when no member reports backups."""
    rows = [r for r in (prom.get("backups") or {}).get("result") or [] if r.get("metric", {}).get("stanza") == cluster]
    if not rows:
        return None
    archived = [
        r for r in (prom.get("archived") or {}).get("result") or [] if r.get("metric", {}).get("stanza") == cluster
    ]
    return {
        "now": float(rows[0]["value"][0]),
        "newest": {str(r["metric"].get("type")): float(r["value"][1]) for r in rows},
        "archived": float(archived[0]["value"][1]) if archived and float(archived[0]["value"][1]) > 0 else None,
    }


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _backup_line(backup: Mapping[str, Any] | None) -> str:
    if backup is None:
        return "  backup: no metrics (not backed up, or not reported yet)"
    now = backup["now"]
    newest = backup["newest"]
    parts = [f"{kind} {_ago(now - newest[kind])}" for kind in ("full", "diff", "incr") if kind in newest]
    wal = f"WAL archived {_ago(now - backup['archived'])}" if backup["archived"] else "no WAL archived yet"
    return f"  backup: newest {', '.join(parts) or 'none'}; {wal}"


def _target_ip(target: Mapping[str, Any]) -> str:
    labels = target.get("labels") or {}
    return str(labels.get("ip") or str(labels.get("instance", "")).rsplit(":", 1)[0])


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render(summary: Mapping[str, Any]) -> str:
    """``summarize``'s picture as text, one block per cluster, then the alerts."""
    lines: list[str] = []
    for c in summary["clusters"]:
        vip = ""
        if c["vip"]:
            vip = f"; VIP {c['vip']} on {', '.join(c['vip_holders']) or 'no member'}"
        lines.append(f"{c['cluster']}: leader {c['leader'] or 'NONE'}{vip}")
        if c["patroni_error"]:
            lines.append(f"  Patroni does not answer: {c['patroni_error']}")
        rows = [["member", "node", "role", "state", "TL", "lag"]]
        for m in c["members"]:
            tl = "-" if m["timeline"] is None else str(m["timeline"])
            rows.append([m["instance"], m["node"], m["role"], m["state"], tl, _lag(m["lag"])])
        lines += _table(rows)
        rows = [["service", "port", "healthy backends"]]
        for s in c["services"]:
            seen = f" (seen by {s['haproxies']} HAProxy)" if s["haproxies"] else ""
            rows.append([s["service"], str(s["port"]), (", ".join(s["up"]) or "NONE") + seen])
        lines += _table(rows)
        lines.append(_backup_line(c.get("backup")))
        e = c["exporters"]
        lines.append(f"  scrapes: {e['up']}/{e['total']} up" + "".join(f"\n    down: {d}" for d in e["down"]))
        lines.append("")
    if summary.get("prometheus_error"):
        lines.append(f"Prometheus does not answer: {summary['prometheus_error']}")
    firing = summary["alerts"]
    lines.append(f"alerts firing: {len(firing)}" if firing else "alerts firing: none")
    for a in firing:
        where = " ".join(str(x) for x in (a["cluster"], a["instance"]) if x)
        lines.append(f"  {a['alert']} ({a['severity'] or 'no severity'}) {where} since {a['since']}")
    return "\n".join(lines)


def problems(summary: Mapping[str, Any]) -> list[str]:
    """What is not as it should be, one line each: a cluster without a leader or whose Patroni
    does not answer, a member neither running (the leader) nor streaming, a service without a
    healthy backend, a VIP held by no member or by a member that does not lead, a scrape down,
    an alert firing (of a severity other than INFO), Prometheus not answering."""
    found: list[str] = []
    for c in summary["clusters"]:
        name = c["cluster"]
        if c["patroni_error"]:
            found.append(f"{name}: Patroni does not answer ({c['patroni_error']})")
        elif c["leader"] is None:
            found.append(f"{name}: no leader")
        for m in c["members"]:
            expected = "running" if m["instance"] == c["leader"] else "streaming"
            if not c["patroni_error"] and m["state"] != expected:
                found.append(f"{name}: {m['instance']} is {m['role']}/{m['state']}, not {expected}")
        if c["vip"] and c["vip_holders"] != ([c["leader"]] if c["leader"] else []):
            held = ", ".join(c["vip_holders"]) or "no member"
            found.append(f"{name}: VIP {c['vip']} on {held}, leader {c['leader']}")
        found += [
            f"{name}: service {s['service']} ({s['port']}) has no healthy backend" for s in c["services"] if not s["up"]
        ]
        found += [f"{name}: scrape down: {d}" for d in c["exporters"]["down"]]
    if summary.get("prometheus_error"):
        found.append(f"Prometheus does not answer: {summary['prometheus_error']}")
    for a in summary["alerts"]:
        if str(a.get("severity") or "").upper() == "INFO":
            continue  # shown, not a problem (e.g. PostgresRestarted for five minutes after a start)
        where = " ".join(str(x) for x in (a["alert"], a["cluster"], a["instance"]) if x)
        found.append(f"alert firing: {where}" + (f" ({a['job']})" if a.get("job") else ""))
    return found
