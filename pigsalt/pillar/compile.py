"""The pillar of each node, compiled from the inventory model and the stored secrets.

Everything is under the top-level key ``pigsty``: ``node`` (every node), ``infra`` (what every
node needs to know of the meta nodes; the full picture only on meta nodes), and ``pg`` (only
on nodes that run an instance). A node receives only the secrets it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from pigsalt.inventory import cron
from pigsalt.inventory.model import Cluster, Inventory, Node
from pigsalt.monitor import registry
from pigsalt.pillar import backup, derive, firewall, platform, prometheus, tls, tune
from pigsalt.pillar.secrets import CLUSTER_GENERATED, CLUSTER_INTERNAL, INFRA_GENERATED, Needs, Store
from pigsalt.wheellock import WheelLock, load_lock

# Where the offline repository lives on meta nodes, and the keyring nodes verify it with.
REPO_DIR = "/var/lib/pigsalt/repo"
REPO_KEYRING = "/etc/apt/keyrings/pigsalt-archive-keyring.gpg"
# Nginx on meta reverse-proxies these names to local services.
PORTAL_PROXIES = {"p.pigsty": 9090, "a.pigsty": 9093, "g.pigsty": 3000}
PORTAL_NAMES = ("pigsty", "repo.pigsty", "yum.pigsty", "p.pigsty", "a.pigsty", "g.pigsty", "h.pigsty")
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
HAPROXY_ADMIN_PORT = 9101
# The Python of the Salt virtualenv every node has, with the pigsalt package (pigsalt.agent.*).
SALT_PYTHON = "/opt/pigsalt/salt/bin/python"
PGBOUNCER_HBA_FILE = "/etc/pgbouncer/pgb_hba.conf"
# Patroni's callback writes here after a role change; pgsql.events' path unit tells the master.
ROLE_CHANGE_FILE = "/run/postgresql/pigsalt-role-change"


def needed_secrets(inv: Inventory) -> Needs:
    """Generated passwords the inventory leaves unset: the meta nodes' and each cluster's."""
    return Needs(
        infra=frozenset(n for n in INFRA_GENERATED if inv.vars[n] is None),
        clusters={
            c.name: frozenset(CLUSTER_INTERNAL).union(n for n in CLUSTER_GENERATED if c.vars[n] is None)
            for c in inv.clusters
        },
    )


def _secret(values: Mapping[str, Any], name: str, generated: Mapping[str, str]) -> str:
    value = values[name]
    return str(value) if value is not None else generated[name]


PATRONI_NAMESPACE = "/service/"


def etcd_user(cluster: str) -> str:
    """A cluster's Patroni's etcd user (and role). No node name holds an @, so no node's
    certificate (its CN is the node name) can stand for this user in etcd's CN authentication."""
    return f"patroni@{cluster}"


def _dcs_auth(inv: Inventory, secrets: Store) -> dict[str, Any]:
    """etcd's RBAC, applied on the DCS members: the root password and each cluster's user, which
    may read and write its own Patroni keys only."""
    return {
        "root_password": _secret(inv.vars, "etcd_root_password", secrets.infra),
        "users": [
            {
                "name": etcd_user(c.name),
                "password": secrets.cluster(c.name)["patroni_etcd_password"],
                "prefix": f"{PATRONI_NAMESPACE}{c.name}/",
            }
            for c in sorted(inv.clusters, key=lambda c: c.name)
        ],
    }


def _dcs_members(inv: Inventory) -> list[dict[str, str]]:
    servers = inv.vars["dcs_servers"] or {n.name: n.ip for n in inv.meta_nodes}
    return [{"name": name, "ip": ip} for name, ip in sorted(servers.items())]


def _dcs(inv: Inventory) -> dict[str, Any]:
    g = inv.vars
    members = _dcs_members(inv)
    return {
        "type": g["dcs_type"],
        "name": g["dcs_name"],
        "members": members,
        # TLS with client certificates on both ports (pigsty:tls: the node's key and certificate).
        "endpoints": [f"https://{m['ip']}:{ETCD_CLIENT_PORT}" for m in members],
        "initial_cluster": ",".join(f"{m['name']}=https://{m['ip']}:{ETCD_PEER_PORT}" for m in members),
        "data_dir": g["etcd_data_dir"],
        "client_port": ETCD_CLIENT_PORT,
        "peer_port": ETCD_PEER_PORT,
    }


def dns_records(inv: Inventory) -> list[dict[str, str]]:
    """Every name dnsmasq on the meta nodes answers: nodes, instances, clusters, portal names."""
    records: dict[str, str] = {}
    primary_meta = inv.meta_nodes[0].ip
    for name in PORTAL_NAMES:
        records[name] = primary_meta
    for node in inv.nodes:
        records[node.name] = node.ip
        if node.instance is not None:
            records[node.instance.name] = node.ip
    for cluster in inv.clusters:
        records[cluster.name] = cluster.vip.address if cluster.vip and cluster.vip.address else cluster.primary.ip
    for line in inv.vars["dns_records"]:
        ip, *names = line.split()
        for name in names:
            records[name] = ip
    return [{"name": name, "ip": ip} for name, ip in sorted(records.items())]


def _infra(inv: Inventory, node: Node, secrets: Store, memo: _Memo) -> dict[str, Any]:
    g = inv.vars
    meta = [{"name": n.name, "ip": n.ip} for n in inv.meta_nodes]
    infra: dict[str, Any] = {
        "meta_nodes": meta,
        "repo": {
            "name": g["repo_name"],
            "host": "repo.pigsty",
            "aliases": ["yum.pigsty"],
            "ip": meta[0]["ip"],
            "port": g["repo_port"],
            "url": f"http://repo.pigsty{'' if g['repo_port'] == 80 else ':' + str(g['repo_port'])}",
            "dir": REPO_DIR,
            "keyring": REPO_KEYRING,
        },
        "dcs": {
            **memo.get(("dcs",), lambda: _dcs(inv)),
            # This node's own DCS member entry, or None when it is not a member.
            "member": next((m for m in _dcs_members(inv) if m["ip"] == node.ip), None),
        },
    }
    if infra["dcs"]["member"] is not None:
        infra["dcs"]["auth"] = memo.get(("dcs_auth",), lambda: _dcs_auth(inv, secrets))
    if node.meta:
        infra["dns"] = {"records": dns_records(inv), "upstreams": list(g["dns_upstreams"])}
        infra["ntp"] = {"clients": [n.ip for n in inv.nodes if n.ip != node.ip]}
        infra["nginx"] = {
            "port": g["repo_port"],
            "portal": "pigsty",
            "proxies": [
                {"name": name, "upstream": f"http://127.0.0.1:{port}"} for name, port in PORTAL_PROXIES.items()
            ],
            "haproxy_index": [
                {"cluster": c.name, "instance": i.name, "url": f"http://{i.ip}:{HAPROXY_ADMIN_PORT}/"}
                for c in inv.clusters
                for i in c.instances
            ],
        }
        infra["prometheus"] = memo.get(
            ("prometheus",), lambda: prometheus.prometheus(inv, ETCD_CLIENT_PORT, HAPROXY_ADMIN_PORT)
        )
        infra["alertmanager"] = prometheus.alertmanager(inv, node)
        infra["registry"] = memo.get(("registry",), lambda: registry.registry(inv))
        infra["grafana"] = {
            "package": "grafana",
            "admin_username": g["grafana_admin_username"],
            "admin_password": _secret(g, "grafana_admin_password", secrets.infra),
            "domain": "g." + infra["nginx"]["portal"],
            "http_port": PORTAL_PROXIES["g.pigsty"],
            "provisioning_dir": "/etc/grafana/provisioning",
            "scrape_interval": g["prometheus_scrape_interval"],
        }
    if node.name == backup.server_node(inv).name:
        infra["backup"] = memo.get(("backup_server",), lambda: backup.server(inv))
    return infra


def chrony_source(server: str) -> str:
    """A chrony source line: a value with a space already is one (``pool pool.ntp.org iburst``),
    a plain host becomes ``server <host> iburst``."""
    return server if " " in server else f"server {server} iburst"


def _node(inv: Inventory, node: Node) -> dict[str, Any]:
    v = node.vars
    meta_ips = [n.ip for n in inv.meta_nodes]
    return {
        "name": node.name,
        "ip": node.ip,
        "meta": node.meta,
        "os": platform.node_os(node.release),
        # None: leave the node's time zone alone (Pigsty's empty node_timezone).
        "timezone": v["node_timezone"] or None,
        "tune": v["node_tune"],
        "sysctl": tune.sysctl(v["node_tune"]),
        "limits": dict(tune.LIMITS),
        "dns_servers": list(v["node_dns_servers"] if v["node_dns_servers"] is not None else meta_ips),
        # chrony.conf's source lines. A node never syncs from itself (a lone meta node serves
        # its own clock).
        "ntp_sources": [
            chrony_source(server)
            for server in (v["node_ntp_servers"] if v["node_ntp_servers"] is not None else meta_ips)
            if server not in (node.ip, node.name)
        ],
        "exporter_port": v["node_exporter_port"],
        # node_exporter's textfile collector directory (pigsalt.agent.backup_metrics writes there).
        "textfile_dir": backup.TEXTFILE_DIR,
        "firewall": firewall.node_firewall(inv, node, HAPROXY_ADMIN_PORT),
        # Names a node must resolve before DNS is up (the repository first of all).
        "etc_hosts": [{"ip": meta_ips[0], "names": ["repo.pigsty", "yum.pigsty", "pigsty"]}],
        "admin": {
            "enabled": v["node_admin_enabled"],
            "username": v["node_admin_username"],
            "uid": v["node_admin_uid"],
            "pk_list": list(v["node_admin_pk_list"]),
        },
        # node_crontab as systemd timers (node.crontab): the user is each line's sixth field.
        "crontab": [cron.parse(line).as_pillar() for line in v["node_crontab"]],
    }


def _role_args(user: Mapping[str, Any], dbsu: str, port: int) -> dict[str, Any]:
    """``pigsalt_pg.role_present``'s keyword arguments for a role: every attribute explicit
    (Postgres' defaults where unset); ``password`` only when given (unset: never touched)."""
    return {
        "name": user["name"],
        **({"password": user["password"]} if "password" in user else {}),
        "login": user.get("login", True),
        "superuser": user.get("superuser", False),
        "createdb": user.get("createdb", False),
        "createrole": user.get("createrole", False),
        "inherit": user.get("inherit", True),
        "replication": user.get("replication", False),
        "bypassrls": user.get("bypassrls", False),
        "connlimit": user.get("connlimit", -1),
        # Days from the day the state runs, on the minion: the pillar holds no date that ages.
        "expire_in": user.get("expire_in"),
        "expire_at": user.get("expire_at"),
        "comment": user.get("comment", ""),
        "roles": sorted(user.get("roles") or []),
        "parameters": dict(sorted((user.get("parameters") or {}).items())),
        "dbsu": dbsu,
        "port": port,
    }


def _database_args(db: Mapping[str, Any], cvars: Mapping[str, Any]) -> dict[str, Any]:
    """``pigsalt_pg.database_present``'s keyword arguments for a database, every attribute explicit."""
    extensions = [
        {"name": e, "schema": None} if isinstance(e, str) else {"name": e["name"], "schema": e.get("schema")}
        for e in db.get("extensions") or []
    ]
    return {
        "name": db["name"],
        "owner": db.get("owner", cvars["pg_dbsu"]),
        "template": db.get("template", "template1"),
        "encoding": db.get("encoding", cvars["pg_encoding"]),
        "locale": db.get("locale", cvars["pg_locale"]),
        "lc_collate": db.get("lc_collate", cvars["pg_lc_collate"]),
        "lc_ctype": db.get("lc_ctype", cvars["pg_lc_ctype"]),
        "tablespace": db.get("tablespace", "pg_default"),
        "allowconn": db.get("allowconn", True),
        "revokeconn": db.get("revokeconn", False),
        "connlimit": db.get("connlimit", -1),
        "comment": db.get("comment", ""),
        "schemas": list(db.get("schemas") or []),
        "extensions": extensions,
        "parameters": dict(sorted((db.get("parameters") or {}).items())),
        "dbsu": cvars["pg_dbsu"],
        "port": cvars["pg_port"],
    }


def system_roles(c: Mapping[str, Any], users: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """The replicator, admin and monitor users as pg_users entries: bootstrap.sql creates them
    with these attributes, and pgsql.users keeps them so (a rotated password lands there)."""
    return [
        {
            "name": users["replicator"]["name"],
            "password": users["replicator"]["password"],
            "replication": True,
            "comment": "pigsalt: replication and pg_rewind",
        },
        {
            "name": users["admin"]["name"],
            "password": users["admin"]["password"],
            "superuser": True,
            "comment": "pigsalt: administrator",
        },
        {
            "name": users["monitor"]["name"],
            "password": users["monitor"]["password"],
            "roles": ["pg_monitor"],
            "comment": "pigsalt: monitoring",
        },
    ]


def _system_users(c: Mapping[str, Any], own: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {
        "admin": {"name": c["pg_admin_username"], "password": _secret(c, "pg_admin_password", own)},
        "monitor": {"name": c["pg_monitor_username"], "password": _secret(c, "pg_monitor_password", own)},
        "replicator": {"name": c["pg_replication_username"], "password": _secret(c, "pg_replication_password", own)},
    }


def _sql_states(c: Mapping[str, Any], users: Mapping[str, Mapping[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The ``pigsalt_pg`` states of a cluster: for each, its keyword arguments (``args``, passed as
    they are) and the roles it must wait for (``require_roles``, each one of ``roles``). The
    system users come first, then pg_default_roles, then pg_users."""
    dbsu, port = c["pg_dbsu"], c["pg_port"]
    default_roles = [r["name"] for r in derive.DEFAULT_ROLES]
    roles = [_role_args(r, dbsu, port) for r in system_roles(c, users)]
    roles += [_role_args(r, dbsu, port) for r in derive.DEFAULT_ROLES] + [
        _role_args(u, dbsu, port) for u in sorted(c["pg_users"], key=lambda u: u["name"])
    ]
    managed = {r["name"] for r in roles}
    databases = [_database_args(d, c) for d in sorted(c["pg_databases"], key=lambda d: d["name"])]
    return {
        "roles": [{"args": r, "require_roles": []} for r in roles],
        "databases": [{"args": d, "require_roles": [d["owner"]] if d["owner"] in managed else []} for d in databases],
        # ALTER DEFAULT PRIVILEGES FOR ROLE <owner> <grant>, in every business database; as in
        # Pigsty, a business admin runs its DDL after SET ROLE dbrole_admin. Each also waits for
        # its database's state (same name).
        "default_privileges": [
            {
                "args": {
                    "name": d["name"],
                    "owners": [dbsu, c["pg_admin_username"], "dbrole_admin"],
                    "grants": list(c["pg_default_privileges"]),
                    "dbsu": dbsu,
                    "port": port,
                },
                "require_roles": default_roles,
            }
            for d in databases
        ],
    }


class _Memo:
    """Per-cluster results shared by the cluster's nodes while compiling a whole inventory.

    The shared values are the same objects in every node's pillar: treat them as read-only.
    """

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], Any] = {}

    def get(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        if key not in self.values:
            self.values[key] = make()
        return self.values[key]


def _checks(node: Node, cluster: Cluster, services: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What checks.services and checks.replication wait for on this member.

    ``tcp``: the ports this member serves (Pgbouncer, HAProxy's admin page and services, the
    exporters) and, with ``vip_mode: l2``, Postgres' port on the VIP. ``replication``: for each
    other member, the command that exits 0 when it streams from this one (run where Patroni
    says this member leads).
    """
    c = cluster.vars
    inst = node.instance
    assert inst is not None
    ports: dict[str, int] = {"pg-exporter": c["pg_exporter_port"]}
    if c["pgbouncer_enabled"]:
        ports.update({"pgbouncer": c["pgbouncer_port"], "pgbouncer-exporter": c["pgbouncer_exporter_port"]})
    if c["haproxy_enabled"]:
        ports["haproxy-admin"] = HAPROXY_ADMIN_PORT
        ports.update({f"service-{svc['service']}": svc["port"] for svc in services})
    tcp = [{"name": name, "host": node.ip, "port": port} for name, port in sorted(ports.items())]
    if cluster.vip is not None:
        tcp.append({"name": "vip", "host": cluster.vip.address, "port": c["pg_port"]})
    replication = [
        {
            "member": member.name,
            "label": f"{member.name} streams from {inst.name}",
            "cmd": [
                *("runuser", "-u", c["pg_dbsu"], "--", SALT_PYTHON, "-m", "pigsalt.agent.replication"),
                *("--member", member.name, "--port", str(c["pg_port"])),
            ],
        }
        for member in cluster.instances
        if member.name != inst.name
    ]
    return {"tcp": tcp, "replication": replication}


def _fence(cluster: Cluster, services: list[dict[str, Any]], timings: Mapping[str, Any]) -> dict[str, Any]:
    """pigsalt-fence (``patroni_fence_mode``): the client ports it guards while this member is
    the primary (Postgres, Pgbouncer, HAProxy's services; not the admin page or the exporters),
    and how long a confirmation of the leader lock holds: it must run out before another member
    can be promoted (see pigsalt.agent.fence)."""
    c = cluster.vars
    ports = {c["pg_port"]}
    if c["pgbouncer_enabled"]:
        ports.add(c["pgbouncer_port"])
    if c["haproxy_enabled"]:
        ports.update(svc["port"] for svc in services)
    return {
        "mode": c["patroni_fence_mode"],
        "ports": sorted(ports),
        "lease": derive.fence_lease(timings),
    }


def _pg(inv: Inventory, node: Node, cluster: Cluster, secrets: Store, memo: _Memo, lock: WheelLock) -> dict[str, Any]:
    c = cluster.vars
    own = secrets.cluster(cluster.name)
    inst = node.instance
    assert inst is not None
    timings = derive.patroni_timings(c["pg_rto"], c["pg_rpo"])
    users = memo.get(("system_users", cluster.name), lambda: _system_users(c, own))
    sql_states = memo.get(("sql_states", cluster.name), lambda: _sql_states(c, users))
    services = memo.get(("services", cluster.name), lambda: derive.services(cluster, inv.release))
    hba = memo.get(
        ("hba", cluster.name, str(inst.offline_query)),
        lambda: {
            "postgres": derive.hba(node, inv, cluster),
            "pgbouncer": derive.hba(node, inv, cluster, pgbouncer=True),
        },
    )
    # Outside the data directory (which pg_basebackup copies from the primary): each member's
    # own rules, written by Salt, never by Patroni (it leaves an explicit hba_file alone).
    hba_file = str(PurePosixPath(c["pg_data"]).parent / "conf" / "pg_hba.conf")
    return {
        "cluster": cluster.name,
        "instance": inst.name,
        "seq": inst.seq,
        "role": inst.role,
        "offline_query": inst.offline_query,
        "weight": inst.vars["pg_weight"],
        "members": [
            {"name": i.name, "ip": i.ip, "seq": i.seq, "role": i.role, "offline_query": i.offline_query}
            for i in cluster.instances
        ],
        "version": c["pg_version"],
        **platform.postgres(node.release, c["pg_version"]),
        "port": c["pg_port"],
        "data": c["pg_data"],
        "hba_file": hba_file,
        # The role whose HBA rules apply until Patroni tells this member's current one.
        "hba_fallback_role": "primary" if inst.role == "primary" else "replica",
        "listen": listen(c["pg_listen"], node.ip),
        "encoding": c["pg_encoding"],
        "locale": c["pg_locale"],
        "lc_collate": c["pg_lc_collate"],
        "lc_ctype": c["pg_lc_ctype"],
        "conf": c["pg_conf"],
        "libs": c["pg_libs"],
        "parameters": dict(sorted(c["pg_parameters"].items())),
        "dbsu": c["pg_dbsu"],
        "patroni": {
            # From the offline repository's wheelhouse: the wheel lock's version for this node's Python.
            **platform.patroni(node.release, lock),
            "port": c["patroni_port"],
            "username": c["patroni_username"],
            "password": _secret(c, "patroni_password", own),
            # Its etcd user: read-write on <namespace><cluster>/ only.
            "etcd": {
                "namespace": PATRONI_NAMESPACE,
                "username": etcd_user(cluster.name),
                "password": own["patroni_etcd_password"],
            },
            **timings,
            "dynamic": derive.patroni_dynamic(timings, c["pg_libs"], _parameters(inv, cluster)),
            # on_start and on_role_change: puts the new role's HBA files in place, then
            # notifies pgsql.events' path unit (Patroni appends the action, the role and the
            # cluster).
            "callback": " ".join(
                [SALT_PYTHON, "-m", "pigsalt.agent.hba_follow", "--postgres", hba_file, "--port", str(c["pg_port"])]
                + (["--pgbouncer", PGBOUNCER_HBA_FILE] if c["pgbouncer_enabled"] else [])
                + ["--notify", ROLE_CHANGE_FILE]
            ),
            "role_change_file": ROLE_CHANGE_FILE,
            # An offline instance serves the offline service and is never promoted.
            "nofailover": inst.role == "offline",
            "watchdog": c["patroni_watchdog_mode"],
            # create_replica_methods: pgbackrest only where the cluster is backed up.
            "replica_methods": [
                m for m in c["patroni_replica_methods"] if m != "pgbackrest" or backup.why_not(inv, cluster) is None
            ],
        },
        "system_users": users,
        # pigsalt_pg's states (pgsql.users): the system users, pg_default_roles then pg_users,
        # pg_databases, and the default privileges of each database.
        **sql_states,
        "hba": hba,
        "pgbouncer": {
            "enabled": c["pgbouncer_enabled"],
            "port": c["pgbouncer_port"],
            "pool_mode": c["pgbouncer_poolmode"],
            "max_db_conn": c["pgbouncer_max_db_conn"],
            # Settings only this node's Pgbouncer series knows (pgbouncer.ini).
            "settings": platform.pgbouncer_settings(node.release),
            # Who may log in through Pgbouncer (its auth_file): the monitor (SHOW commands for
            # the exporter) and every user with `pgbouncer: true`.
            "auth_users": sorted({c["pg_monitor_username"], *(u["name"] for u in c["pg_users"] if u.get("pgbouncer"))}),
            "databases": [
                {"name": d["name"], "pool_mode": d.get("pool_mode", c["pgbouncer_poolmode"])}
                for d in sorted(c["pg_databases"], key=lambda d: d["name"])
                if d.get("pgbouncer", True)
            ],
        },
        "haproxy": {
            "enabled": c["haproxy_enabled"],
            "admin_port": HAPROXY_ADMIN_PORT,
            "admin_username": c["haproxy_admin_username"],
            "admin_password": _secret(c, "haproxy_admin_password", own),
            "client_timeout": c["haproxy_client_timeout"],
            "server_timeout": c["haproxy_server_timeout"],
        },
        "services": _with_sources(services, hba, c["pgbouncer_port"] if c["pgbouncer_enabled"] else None),
        "vip": _vip(cluster, node),
        "exporters": {
            "pg": c["pg_exporter_port"],
            "pgbouncer": c["pgbouncer_exporter_port"],
            "pgbouncer_exporter": platform.pgbouncer_exporter(node.release),
        },
        "checks": _checks(node, cluster, services),
        "backup": backup.member(inv, cluster, own["pgbackrest_cipher_pass"]),
        # pg_crontab as the dbsu's systemd timers (pgsql.crontab), on every member.
        "crontab": [cron.parse(line, c["pg_dbsu"]).as_pillar() for line in c["pg_crontab"]],
        "fence": _fence(cluster, services, timings),
        **_upgrade(inv, cluster, secrets),
    }


def _parameters(inv: Inventory, cluster: Cluster) -> dict[str, Any]:
    """The Postgres parameters of the dynamic configuration: a source of an upgrade decodes its
    WAL for the successor's subscription (validation refuses any other wal_level it sets)."""
    parameters = {**backup.archive_parameters(inv, cluster), **cluster.vars["pg_parameters"]}
    if inv.successor(cluster.name) is not None:
        return {"wal_level": "logical", **parameters}
    return parameters


def _upgrade(inv: Inventory, cluster: Cluster, secrets: Store) -> dict[str, Any]:
    """Each side of a major-version upgrade (``pigsalt upgrade`` reads it): ``upgrade_from`` and,
    with the source's members and how to log in there (its admin user: passwords are per
    cluster), ``upgrade_source_members`` and ``upgrade_source_admin`` on the successor;
    ``upgrade_to`` on the source. Nothing for a cluster outside an upgrade."""
    source, successor = cluster.vars["pg_upgrade_from"], inv.successor(cluster.name)
    if source is None and successor is None:
        return {}
    found: dict[str, Any] = {"upgrade_from": source, "upgrade_to": successor.name if successor else None}
    if source is not None:
        origin = inv.cluster(source)
        found["upgrade_source_members"] = [{"name": i.name, "ip": i.ip} for i in origin.instances]
        found["upgrade_source_admin"] = {
            "name": origin.vars["pg_admin_username"],
            "password": _secret(origin.vars, "pg_admin_password", secrets.cluster(source)),
            "port": origin.vars["pg_port"],
        }
    return found


def _with_sources(
    services: list[dict[str, Any]], hba: Mapping[str, Mapping[str, list[str]]], pgbouncer_port: int | None
) -> list[dict[str, Any]]:
    """Each service with ``sources``: the networks the HBA rules of its destination (Pgbouncer's or
    Postgres', either role) admit, for HAProxy's source ACL; None when they admit any address.
    Postgres and Pgbouncer see HAProxy's address, not the client's: the ACL is what keeps a
    source the rules do not name out of 5433-5438."""
    found = []
    for svc in services:
        kind = "pgbouncer" if pgbouncer_port is not None and svc["dest_port"] == pgbouncer_port else "postgres"
        lines = [line for role in ("primary", "replica") for line in hba[kind][role]]
        found.append({**svc, "sources": derive.hba_sources(lines)})
    return found


def listen(value: str, ip: str) -> str:
    """``pg_listen`` with Pigsty's placeholders replaced for the member at ``ip`` (``${vip}``
    dropped: a member binds no address it does not hold); the member's address when nothing
    is left."""
    placeholders = {"${ip}": ip, "${lo}": "127.0.0.1", "${lo6}": "::1", "${vip}": ""}
    found: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        address = placeholders.get(item, item)
        if address and address not in found:
            found.append(address)
    return ",".join(found) or ip


def _vip(cluster: Cluster, node: Node) -> dict[str, Any]:
    """The VIP this member keeps while it leads; ``interface`` None: the one carrying the member's address.

    A successor's keeper holds it only once the cutover grants it (``pigsalt_vip: granted`` in
    its Patroni dynamic configuration): until then the source holds the same address.
    """
    vip = cluster.vip
    if vip is None:
        return {"mode": "none", "address": None, "cidrmask": None, "interface": None}
    # The interface may be set per node; which name counts follows the spelling the cluster uses.
    param = "pg_vip_interface" if vip.address_param == "pg_vip_address" else "vip_interface"
    interface = node.vars[param]
    where = ["--interface", interface] if interface else ["--interface-of", node.ip]
    awaiting = ["--await-grant"] if cluster.vars["pg_upgrade_from"] is not None else []
    return {
        "mode": "l2",
        "address": vip.address,
        "cidrmask": vip.cidrmask,
        "interface": interface,
        # pigsalt.agent.vip's arguments (the unit adds --patroni).
        "keeper_args": ["--address", f"{vip.address}/{vip.cidrmask}", *where, *awaiting],
    }


def compile_node(
    inv: Inventory, node: Node, secrets: Store, memo: _Memo | None = None, lock: WheelLock | None = None
) -> dict[str, Any]:
    """The ``pigsty`` pillar of one node; ``lock``: the wheel lock (the packaged one by default)."""
    memo = memo or _Memo()
    pillar: dict[str, Any] = {
        "node": _node(inv, node),
        "infra": _infra(inv, node, secrets, memo),
        "tls": tls.node_tls(inv, node),
    }
    if node.instance is not None:
        pillar["pg"] = _pg(inv, node, inv.cluster(node.instance.cluster), secrets, memo, lock or load_lock())
    return {"pigsty": pillar}


def compile_all(inv: Inventory, secrets: Store, lock: WheelLock | None = None) -> dict[str, dict[str, Any]]:
    """Every node's pillar, keyed by node name."""
    memo = _Memo()
    return {node.name: compile_node(inv, node, secrets, memo, lock) for node in inv.nodes}
