"""Derived data the formulas read as finished values: Patroni timings, services, HBA lines."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import jmespath

from pigsalt.inventory.model import Cluster, Instance, Inventory, Node
from pigsalt.inventory.pigsty import V1
from pigsalt.inventory.validate import service_params

PATRONI_MIN_TTL = 20
PATRONI_MIN_RETRY = 3

# Pigsty's HAProxy server options (DOMAIN.md).
SERVER_OPTIONS = (
    "inter 3s fastinter 1s downinter 5s rise 3 fall 3 on-marked-down shutdown-sessions "
    "slowstart 30s maxconn 3000 maxqueue 128 weight 100"
)

# The four default services. The replica service lists every member twice: as a normal server
# checked with /replica and as a backup checked with /primary, so reads go to replicas and fall
# back to whichever node is primary *now*, not to the inventory's pg_role.
DEFAULT_SERVICES: tuple[Mapping[str, Any], ...] = (
    {"name": "primary", "port": 5433, "dest": "pgbouncer", "check": "/primary", "selector": "[]"},
    {
        "name": "replica",
        "port": 5434,
        "dest": "pgbouncer",
        "check": "/replica",
        "selector": "[]",
        "backup": "[]",
        "backup_check": "/primary",
    },
    {"name": "default", "port": 5436, "dest": "postgres", "check": "/primary", "selector": "[]"},
    {
        "name": "offline",
        "port": 5438,
        "dest": "postgres",
        "check": "/replica",
        "selector": "[? pg_role == 'offline' || pg_offline_query]",
        "backup": "[? pg_role == 'replica' && !pg_offline_query]",
    },
)

# Pigsty's default roles, created (NOLOGIN) before the business users that are granted them.
DEFAULT_ROLES: tuple[Mapping[str, Any], ...] = (
    {"name": "dbrole_readonly", "login": False, "comment": "role for global read-only access"},
    {"name": "dbrole_offline", "login": False, "comment": "role for restricted read-only access"},
    {
        "name": "dbrole_readwrite",
        "login": False,
        "roles": ["dbrole_readonly"],
        "comment": "role for global read-write access",
    },
    {
        "name": "dbrole_admin",
        "login": False,
        "roles": ["pg_monitor", "dbrole_readwrite"],
        "comment": "role for object creation",
    },
)

ADDR_ALIASES: Mapping[str, tuple[str, ...]] = {
    "localhost": ("127.0.0.1/32", "::1/128"),
    "intra": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
    "world": ("0.0.0.0/0", "::/0"),
}

# Pigsalt's base HBA rules: no trust anywhere, peer only on the local socket, scram-sha-256 elsewhere.
# The first eight are the fixed rules of Pigsty v1's template (dbsu, replicator, monitor): a v1
# inventory's pg_hba_rules replace only the rest (admin and business users).
FIXED_PG_HBA_COUNT = 8
DEFAULT_PG_HBA: tuple[Mapping[str, Any], ...] = (
    {"user": "${dbsu}", "db": "all", "addr": "local", "auth": "peer", "title": "dbsu on the local socket"},
    {"user": "${dbsu}", "db": "replication", "addr": "local", "auth": "peer", "title": "dbsu replication"},
    {"user": "${replicator}", "db": "replication", "addr": "localhost", "auth": "pwd", "title": "replication"},
    {"user": "${replicator}", "db": "replication", "addr": "cluster", "auth": "pwd", "title": "replication"},
    {"user": "${replicator}", "db": "postgres", "addr": "localhost", "auth": "pwd", "title": "pg_rewind"},
    {"user": "${replicator}", "db": "postgres", "addr": "cluster", "auth": "pwd", "title": "pg_rewind"},
    {"user": "${monitor}", "db": "all", "addr": "localhost", "auth": "pwd", "title": "monitor"},
    {"user": "${monitor}", "db": "all", "addr": "infra", "auth": "pwd", "title": "monitor from meta"},
    {"user": "${admin}", "db": "all", "addr": "localhost", "auth": "pwd", "title": "admin"},
    {"user": "${admin}", "db": "all", "addr": "infra", "auth": "pwd", "title": "admin from meta"},
    {"user": "${admin}", "db": "all", "addr": "cluster", "auth": "pwd", "title": "admin through haproxy"},
    {"user": "+dbrole_readonly", "db": "all", "addr": "localhost", "auth": "pwd", "title": "business users"},
    {"user": "+dbrole_readonly", "db": "all", "addr": "intra", "auth": "pwd", "title": "business users"},
    {
        "user": "+dbrole_offline",
        "db": "all",
        "addr": "localhost",
        "auth": "pwd",
        "role": "offline",
        "title": "offline users",
    },
    {
        "user": "+dbrole_offline",
        "db": "all",
        "addr": "intra",
        "auth": "pwd",
        "role": "offline",
        "title": "offline users",
    },
)

DEFAULT_PGB_HBA: tuple[Mapping[str, Any], ...] = (
    {"user": "${dbsu}", "db": "pgbouncer", "addr": "local", "auth": "peer", "title": "dbsu admin console"},
    {"user": "all", "db": "all", "addr": "localhost", "auth": "pwd", "title": "local clients"},
    {"user": "${monitor}", "db": "pgbouncer", "addr": "infra", "auth": "pwd", "title": "monitor from meta"},
    {"user": "all", "db": "all", "addr": "intra", "auth": "pwd", "title": "intranet clients"},
)


def patroni_timings(pg_rto: int, pg_rpo: int) -> dict[str, Any]:
    """Patroni's DCS timings from the RTO (seconds) and RPO (bytes).

    ``ttl = pg_rto``; ``loop_wait = retry_timeout = ⌊ttl/3⌋`` keeps ``loop_wait + 2·retry_timeout <= ttl``
    (Pigsty's ⌈ttl/3⌉ breaks that rule when ttl is not a multiple of 3).
    """
    ttl = max(pg_rto, PATRONI_MIN_TTL)
    step = max(ttl // 3, PATRONI_MIN_RETRY)
    return {
        "ttl": ttl,
        "loop_wait": step,
        "retry_timeout": step,
        "primary_start_timeout": step,
        "maximum_lag_on_failover": pg_rpo,
        # RPO 0 is strict synchronous mode: with no synchronous replica left the primary stops
        # committing rather than acknowledge a write only it holds.
        "synchronous_mode": pg_rpo == 0,
        "synchronous_mode_strict": pg_rpo == 0,
        "failsafe_mode": True,
    }


def fence_lease(timings: Mapping[str, Any]) -> int:
    """Seconds one confirmation of the leader lock holds for pigsalt-fence: Patroni renews the
    lock every ``loop_wait`` and gives up after ``retry_timeout``, so a lock confirmed now has at
    least ``ttl - loop_wait - retry_timeout`` seconds left; one more second covers the poll."""
    return max(2, int(timings["ttl"]) - int(timings["loop_wait"]) - int(timings["retry_timeout"]) - 1)


# Postgres settings pigsalt sets unless pg_parameters says otherwise.
DEFAULT_PARAMETERS: Mapping[str, Any] = {
    "password_encryption": "scram-sha-256",
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "max_connections": 100,
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "wal_keep_size": "1GB",
}


def patroni_dynamic(timings: Mapping[str, Any], libs: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Patroni's dynamic configuration (the DCS ``/config``): written into ``bootstrap.dcs`` for
    the first start and kept in line afterwards by ``pigsalt_patroni.config_applied``.

    A failed-over primary has always diverged (DOMAIN.md, "Baseline"), hence ``use_pg_rewind``.
    """
    merged = {**DEFAULT_PARAMETERS, "shared_preload_libraries": libs, **parameters}
    return {
        **{k: timings[k] for k in sorted(timings)},
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": dict(sorted(merged.items())),
        },
    }


def _instance_facts(inst: Instance) -> dict[str, Any]:
    """What a service selector sees of an instance (Pigsty's variable names)."""
    return {
        "pg_cluster": inst.cluster,
        "pg_seq": inst.seq,
        "pg_role": inst.role,
        "pg_offline_query": bool(inst.vars["pg_offline_query"]),
        "pg_weight": inst.vars["pg_weight"],
        "ip": inst.ip,
        "ins": inst.name,
    }


_COMPILED: dict[str, Any] = {}


def _select(expr: str | None, members: Sequence[Instance]) -> list[Instance]:
    if not expr:
        return []
    facts = [_instance_facts(i) for i in members]
    if expr not in _COMPILED:
        _COMPILED[expr] = jmespath.compile(expr)
    chosen = _COMPILED[expr].search(facts) or []
    names = {item.get("ins") for item in chosen if isinstance(item, dict)}
    return [i for i in members if i.name in names]


def normalize_service(svc: Mapping[str, Any]) -> dict[str, Any]:
    """Pigsty v1's service spelling in the later one (port, dest, check, backup, …)."""
    haproxy = svc.get("haproxy") or {}
    return {
        "name": svc["name"],
        "port": svc.get("port", svc.get("src_port")),
        "ip": svc.get("ip", svc.get("src_ip", "*")),
        "dest": svc.get("dest", svc.get("dst_port", "default")),
        "check": svc.get("check", svc.get("check_url", "/primary")),
        "check_code": svc.get("check_code", 200),
        "selector": svc.get("selector", "[]"),
        "backup": svc.get("backup", svc.get("selector_backup")),
        "backup_check": svc.get("backup_check"),
        "maxconn": svc.get("maxconn", haproxy.get("maxconn", 5000)),
        "balance": svc.get("balance", haproxy.get("balance", "roundrobin")),
        "options": svc.get("options", haproxy.get("default_server_options", SERVER_OPTIONS)),
    }


def _server(inst: Instance, port: int, suffix: str = "") -> dict[str, Any]:
    # host: the name HAProxy's health check verifies in the member's certificate (a DNS SAN).
    return {
        "name": inst.name + suffix,
        "host": inst.name,
        "ip": inst.ip,
        "port": port,
        "weight": inst.vars["pg_weight"],
    }


def service_specs(cluster: Cluster, release: int) -> list[Mapping[str, Any]]:
    """The cluster's service definitions as the release composes them.

    v1 (and pigsalt's layout): ``pg_services`` (default: the four) + ``pg_services_extra``.
    v2+: ``pg_default_services`` (default: the four) + ``pg_services`` (+ ``pg_services_extra``).
    """
    base_param, extra_params = service_params(release)
    cvars = cluster.vars
    base = cvars[base_param] if cvars[base_param] is not None else DEFAULT_SERVICES
    return [*base, *(svc for param in extra_params for svc in (cvars[param] or []))]


def services(cluster: Cluster, release: int = V1) -> list[dict[str, Any]]:
    """Every HAProxy service of the cluster with its member and backup servers resolved.

    As in Pigsty, a member the backup selector picks is a backup server only (v1's replica
    service: ``selector_backup`` on the primary, so reads go to the primary only when no replica
    is up). pigsalt's own ``backup_check`` makes the backups a second list checked differently
    (its replica service: every member as a replica, and whichever is primary as backup).
    """
    cvars = cluster.vars
    pgbouncer = cvars["pgbouncer_port"] if cvars["pgbouncer_enabled"] else cvars["pg_port"]
    default = pgbouncer if cvars["pg_default_service_dest"] == "pgbouncer" else cvars["pg_port"]
    ports = {"postgres": cvars["pg_port"], "pgbouncer": pgbouncer, "default": default}
    result = []
    for raw in service_specs(cluster, release):
        svc = normalize_service(raw)
        dest = svc.pop("dest")
        dest_port = ports[dest] if isinstance(dest, str) else int(dest)
        members = _select(svc["selector"], cluster.instances)
        backups = _select(svc["backup"], cluster.instances)
        backup_check = svc["backup_check"] or svc["check"]
        if not svc["backup_check"]:
            # Pigsty's meaning: backup-selected members serve only as backups.
            backup_names = {i.name for i in backups}
            members = [i for i in members if i.name not in backup_names]

        same = {i.name for i in members} & {i.name for i in backups}
        result.append(
            {
                **svc,
                "name": f"{cluster.name}-{svc['name']}",
                "service": svc["name"],
                "dest_port": dest_port,
                "check_port": cvars["patroni_port"],
                "backup_check": backup_check,
                "members": [_server(i, dest_port) for i in members],
                "backups": [_server(i, dest_port, "-backup" if i.name in same else "") for i in backups],
            }
        )
    return sorted(result, key=lambda s: s["port"])


def _hba_addresses(addr: str, inv: Inventory, cluster: Cluster) -> list[str]:
    if addr in ADDR_ALIASES:
        return list(ADDR_ALIASES[addr])
    if addr == "admin" and inv.vars["admin_ip"]:
        return [f"{inv.vars['admin_ip']}/32"]
    if addr in ("infra", "admin"):
        return [f"{n.ip}/32" for n in inv.meta_nodes]
    if addr == "cluster":
        return [f"{i.ip}/32" for i in cluster.instances]
    return [str(ipaddress.ip_network(addr, strict=False))]


def _hba_user(user: str, cvars: Mapping[str, Any]) -> str:
    return str(
        {
            "${dbsu}": cvars["pg_dbsu"],
            "${admin}": cvars["pg_admin_username"],
            "${monitor}": cvars["pg_monitor_username"],
            "${replicator}": cvars["pg_replication_username"],
            "${repl}": cvars["pg_replication_username"],
        }.get(user, user)
    )


EXTRA_RULE_ORDER = 1000

AUTH_METHODS = {
    "pwd": "scram-sha-256",
    "scram": "scram-sha-256",
    "md5": "md5",
    "ssl": "scram-sha-256",
    "cert": "cert",
    "deny": "reject",
    "trust": "trust",
    "peer": "peer",
    "ident": "peer",
    "os": "peer",
}


def hba_lines(rule: Mapping[str, Any], inv: Inventory, cluster: Cluster, pgbouncer: bool = False) -> list[str]:
    """pg_hba.conf lines for one rule (alias form or raw ``rules``)."""
    title = rule.get("title") or ""
    head = [f"# {title}"] if title else []
    if "rules" in rule:
        return head + [" ".join(str(line).split()) for line in rule["rules"]]
    user = _hba_user(str(rule["user"]), cluster.vars)
    if pgbouncer and user.startswith("+"):
        # Pgbouncer's HBA has no group syntax: list the users that hold the role.
        role = user[1:]
        holders = sorted(u["name"] for u in cluster.vars["pg_users"] if role in (u.get("roles") or []))
        if not holders:
            return []
        user = ",".join(holders)
    auth, db = str(rule["auth"]), str(rule["db"])
    method = AUTH_METHODS[auth]
    if rule["addr"] == "local":
        return [*head, f"local {db} {user} {method}"]
    kind = "hostssl" if auth in ("ssl", "cert") else "host"
    lines = [f"{kind} {db} {user} {addr} {method}" for addr in _hba_addresses(rule["addr"], inv, cluster)]
    if rule["addr"] == "localhost" and kind == "host":
        # This machine by any transport, as in Pigsty: Pgbouncer reaches Postgres on the socket.
        lines.insert(0, f"local {db} {user} {method}")
    return head + lines


_NETWORK_TYPES = frozenset({"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})


def _is_mask(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hba_sources(lines: Sequence[str]) -> list[str] | None:
    """The networks pg_hba.conf ``lines`` admit connections from (``reject`` rules aside), for a
    HAProxy source ACL; None when they admit any address (``all``, ``0.0.0.0/0``, a host name or
    ``samenet``: no ACL can say less)."""
    networks: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for line in lines:
        fields = line.split()
        if not fields or fields[0] not in _NETWORK_TYPES or len(fields) < 5:
            continue
        addr, rest = fields[3], fields[4:]
        try:
            if "/" not in addr and len(rest) > 1 and _is_mask(rest[0]):
                # An address with its mask in the next field (``10.0.0.0 255.0.0.0 md5``).
                network = ipaddress.ip_network(f"{addr}/{rest.pop(0)}")
            else:
                network = ipaddress.ip_network(addr)
        except ValueError:
            return None
        if rest[0] == "reject":
            continue
        if network.prefixlen == 0:
            return None
        networks.add(network)
    # Each family collapsed: an address inside a listed network adds nothing.
    v4 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    return [str(n) for n in (*v4, *v6)]


def _or(value: Any, default: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    return value if value is not None else default


def hba_rules(
    cluster: Cluster, release: int, pgbouncer: bool = False
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The base rules and the added rules, as the release composes them (docs/hba.md).

    v1 (and pigsalt's layout): the template's fixed rules, then ``pg_hba_rules_extra``, then
    ``pg_hba_rules`` (default: pigsalt's admin and business rules). v2+: ``pg_default_hba_rules``
    (default: pigsalt's base rules), then ``pg_hba_rules`` (and ``pg_hba_rules_extra`` if given).
    Pgbouncer: v1 ``pgbouncer_hba_rules`` + ``pgbouncer_hba_rules_extra``; v2+
    ``pgb_default_hba_rules`` + ``pgb_hba_rules``.
    """
    c = cluster.vars
    if pgbouncer:
        if release == V1:
            return list(_or(c["pgbouncer_hba_rules"], DEFAULT_PGB_HBA)), list(c["pgbouncer_hba_rules_extra"])
        added = [*c["pgb_hba_rules"], *c["pgbouncer_hba_rules_extra"]]
        base = _or(c["pgb_default_hba_rules"], _or(c["pgbouncer_hba_rules"], DEFAULT_PGB_HBA))
        return list(base), added
    if release == V1:
        fixed = list(DEFAULT_PG_HBA[:FIXED_PG_HBA_COUNT])
        return fixed, [*c["pg_hba_rules_extra"], *_or(c["pg_hba_rules"], DEFAULT_PG_HBA[FIXED_PG_HBA_COUNT:])]
    base = _or(c["pg_default_hba_rules"], DEFAULT_PG_HBA)
    return list(base), [*(c["pg_hba_rules"] or []), *c["pg_hba_rules_extra"]]


def upgrade_hba_rules(inv: Inventory, cluster: Cluster) -> list[Mapping[str, Any]]:
    """The rules a source cluster gets while a successor upgrades from it: the successor's members
    may connect as the source's admin user (the schema copy, the subscriptions), to any database."""
    successor = inv.successor(cluster.name)
    if successor is None:
        return []
    admin = cluster.vars["pg_admin_username"]
    lines = [f"host all {admin} {i.ip}/32 {AUTH_METHODS['pwd']}" for i in successor.instances]
    # Order 0, ahead of everything: a reject the inventory puts first must not cut the upgrade off.
    return [{"title": f"upgrade to {successor.name}", "rules": lines, "order": 0}]


def hba(node: Node, inv: Inventory, cluster: Cluster, pgbouncer: bool = False) -> dict[str, list[str]]:
    """The complete HBA file for each role the instance can hold; the state picks its *current* role.

    ``replica`` includes ``offline`` rules on offline instances and on replicas with pg_offline_query.
    """
    base, extra = hba_rules(cluster, inv.release, pgbouncer)
    upgrade = [] if pgbouncer else upgrade_hba_rules(inv, cluster)
    # Stable sort by ``order``: base rules keep their place (100, 110, …), added rules come after
    # (1000) unless they ask for a smaller order, e.g. a deny rule that must match first.
    base_order = [{"order": 100 + 10 * i, **r} for i, r in enumerate(base)]
    extra_order = [{"order": EXTRA_RULE_ORDER, **r} for r in extra]
    rules = sorted([*upgrade, *base_order, *extra_order], key=lambda r: r["order"])
    offline = node.instance is not None and node.instance.offline_query
    replica_roles = {"common", "replica"} | ({"offline"} if offline else set())
    result: dict[str, list[str]] = {"primary": [], "replica": []}
    for rule in rules:
        role = rule.get("role", "common")
        lines = hba_lines(rule, inv, cluster, pgbouncer)
        if role in ("common", "primary"):
            result["primary"] += lines
        if role in replica_roles:
            result["replica"] += lines
    return result
