"""``pigsalt validate --explain``: what pigsalt will deploy from an inventory, per cluster.

Members and roles, the HBA rules with their origin (pigsalt's default or the file's parameter),
the services with their servers, the VIP, users and databases: the reading of a Pigsty file
that a user checks before the first deploy.
"""

from __future__ import annotations

from collections.abc import Iterator

from pigsalt.inventory.model import Cluster, Inventory
from pigsalt.inventory.pigsty import V1
from pigsalt.pillar import derive

RELEASES = {1: "Pigsty v1 (or pigsalt's layout)", 2: "Pigsty 2.x/3.x"}


def _origin(cluster: Cluster, release: int, pgbouncer: bool) -> tuple[str, str]:
    """Where the base rules and the added rules come from, as the release reads the file."""
    c = cluster.vars
    if pgbouncer:
        base_param, added = (
            ("pgbouncer_hba_rules", "pgbouncer_hba_rules_extra")
            if release == V1
            else ("pgb_default_hba_rules", "pgb_hba_rules")
        )
    elif release == V1:
        return "pigsalt default (fixed rules)", "pg_hba_rules_extra, then pg_hba_rules (default: pigsalt's)"
    else:
        base_param, added = "pg_default_hba_rules", "pg_hba_rules"
    base = f"file ({base_param})" if c[base_param] is not None else "pigsalt default"
    return base, f"file ({added})"


def _hba(cluster: Cluster, release: int, pgbouncer: bool) -> Iterator[str]:
    base, extra = derive.hba_rules(cluster, release, pgbouncer)
    base_origin, extra_origin = _origin(cluster, release, pgbouncer)
    for origin, rules in ((base_origin, base), (extra_origin, extra)):
        for rule in rules:
            role = rule.get("role", "common")
            if "rules" in rule:
                what = "; ".join(" ".join(str(line).split()) for line in rule["rules"])
            else:
                what = f"{rule['user']} {rule['db']} {rule['addr']} {rule['auth']}"
            order = f" order {rule['order']}" if "order" in rule else ""
            yield f"      [{origin}] {role}{order}: {what}" + (f"  # {rule['title']}" if rule.get("title") else "")


def explain(inv: Inventory) -> Iterator[str]:
    """Lines that describe what each cluster will be."""
    yield f"read as {RELEASES[inv.release]}"
    yield "meta nodes: " + ", ".join(f"{n.name} ({n.ip})" for n in inv.meta_nodes)
    dcs = inv.vars["dcs_servers"] or {n.name: n.ip for n in inv.meta_nodes}
    yield "etcd members: " + ", ".join(f"{name} ({ip})" for name, ip in sorted(dcs.items()))
    for cluster in inv.clusters:
        c = cluster.vars
        yield ""
        yield f"cluster {cluster.name} (PostgreSQL {c['pg_version']}, pg_conf {c['pg_conf']})"
        for inst in cluster.instances:
            extra = ", offline queries" if inst.offline_query and inst.role != "offline" else ""
            yield f"  {inst.name}  {inst.ip}  {inst.role}{extra}  weight {inst.vars['pg_weight']}"
        vip = cluster.vip
        if vip is None:
            yield "  VIP: none"
        else:
            where = vip.interface or "the interface carrying each member's address"
            yield f"  VIP: {vip.address}/{vip.cidrmask} on {where}"
        yield "  services:"
        for svc in derive.services(cluster, inv.release):
            members = ", ".join(m["name"] for m in svc["members"]) or "none"
            backups = ", ".join(m["name"] for m in svc["backups"]) or "none"
            yield (
                f"    {svc['port']} {svc['service']} -> :{svc['dest_port']} check {svc['check']}; "
                f"servers {members}; backups {backups}"
            )
        yield "  HBA (Postgres):"
        yield from _hba(cluster, inv.release, pgbouncer=False)
        yield "  HBA (Pgbouncer):"
        yield from _hba(cluster, inv.release, pgbouncer=True)
        users = ", ".join(sorted(u["name"] for u in c["pg_users"])) or "none"
        databases = ", ".join(sorted(d["name"] for d in c["pg_databases"])) or "none"
        yield f"  users: {users}"
        yield f"  databases: {databases}"
