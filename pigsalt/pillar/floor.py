"""pigsalt's security floor on the derived HBA: the connections a cluster cannot live without.

Whatever rules an inventory brings (Pigsty's ``pg_default_hba_rules``, a v1 ``pg_hba_rules``, a
deny rule ordered first), every member, in every role it can hold, must still admit:

- the dbsu over the local socket (Patroni, and every state pigsalt runs);
- the replicator from every other member, for ``replication`` and for ``postgres`` (streaming
  and pg_rewind after a failover);
- the monitor from 127.0.0.1 (the Postgres exporter), and over Pgbouncer's socket to its admin
  console (the Pgbouncer exporter).

The check reads the final ``pg_hba.conf`` lines the way Postgres does: the first line whose
type, database, user and address match decides. A rule that would lock one of them out is an
error naming the cluster, the role and the connection, not a silent gap found at failover time.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from pigsalt.inventory.model import Cluster, Inventory
from pigsalt.inventory.pigsty import V1
from pigsalt.inventory.schema import Problem, join
from pigsalt.pillar import derive

LOCAL = None  # the address of a connection over the Unix socket


@dataclass(frozen=True)
class Connection:
    """One connection attempt: who, to which database, from where (None: the local socket)."""

    user: str
    db: str
    source: str | None
    roles: frozenset[str] = frozenset()
    what: str = ""


@dataclass(frozen=True)
class Line:
    """A pg_hba.conf line, parsed once: type, databases, users, network (None: any) and method."""

    kind: str
    dbs: frozenset[str]
    users: frozenset[str]
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    samehost: bool
    method: str


@functools.lru_cache(maxsize=65536)
def parse(line: str) -> Line | None:
    """The line's fields, or None for a comment or a line Postgres would not match."""
    words = line.split()
    if not words or words[0].startswith("#"):
        return None
    kind = words[0]
    local = kind == "local"
    if len(words) < (4 if local else 5):
        return None
    network = None
    samehost = False
    method_at = 3
    if not local:
        addr, method_at = words[3], 4
        try:
            if addr in ("samehost", "samenet"):
                samehost = True
            elif "/" in addr:
                network = ipaddress.ip_network(addr, strict=False)
            elif addr != "all" and len(words) > 5:
                network, method_at = ipaddress.ip_network(f"{addr}/{words[4]}", strict=False), 5
            elif addr != "all":
                return None  # a host name: never matches an address probe
        except ValueError:
            return None
    if method_at >= len(words):
        return None
    return Line(
        kind, frozenset(words[1].split(",")), frozenset(words[2].split(",")), network, samehost, words[method_at]
    )


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def decides(line: str, conn: Connection) -> bool:
    """Whether ``line`` (a pg_hba.conf line) is the one that applies to ``conn``."""
    parsed = parse(line)
    if parsed is None:
        return False
    if conn.source is LOCAL:
        if parsed.kind != "local":
            return False
    elif parsed.kind not in ("host", "hostnossl", "hostnogssenc"):
        return False  # pigsalt's Postgres serves no TLS yet: hostssl never matches
    dbs = parsed.dbs
    db_ok = (
        conn.db in dbs or ("all" in dbs and conn.db != "replication") or ("sameuser" in dbs and conn.db == conn.user)
    )
    users = parsed.users
    user_ok = conn.user in users or "all" in users or any(f"+{r}" in users for r in conn.roles)
    if not (db_ok and user_ok):
        return False
    if parsed.kind == "local" or conn.source is None:
        return True
    if parsed.samehost:
        return conn.source in ("127.0.0.1", "::1")
    return parsed.network is None or _address(conn.source) in parsed.network


def method(lines: Sequence[str], conn: Connection) -> str | None:
    """The authentication method of the first line that decides, or None when none does."""
    for line in lines:
        if decides(line, conn):
            parsed = parse(line)
            return parsed.method if parsed is not None else None
    return None


def _connections(cluster: Cluster, ip: str, pgbouncer: bool) -> list[Connection]:
    c = cluster.vars
    dbsu, monitor, repl = c["pg_dbsu"], c["pg_monitor_username"], c["pg_replication_username"]
    if pgbouncer:
        return [Connection(monitor, "pgbouncer", LOCAL, frozenset({"pg_monitor"}), "the Pgbouncer exporter")]
    conns = [
        Connection(dbsu, "postgres", LOCAL, what="Patroni and pigsalt's states"),
        Connection(monitor, "postgres", "127.0.0.1", frozenset({"pg_monitor"}), "the Postgres exporter"),
    ]
    for other in cluster.instances:
        if other.ip != ip:
            conns.append(Connection(repl, "replication", other.ip, what=f"streaming replication to {other.name}"))
            conns.append(Connection(repl, "postgres", other.ip, what=f"pg_rewind from {other.name}"))
    return conns


def _where(cluster: Cluster, pgbouncer: bool, release: int) -> str:
    """The parameter to fix: the base rules when the inventory replaced them, else the added ones."""
    c = cluster.vars
    if pgbouncer:
        base, added = ("pgb_default_hba_rules", "pgb_hba_rules") if release != V1 else ("pgbouncer_hba_rules",) * 2
    else:
        base, added = ("pg_default_hba_rules", "pg_hba_rules") if release != V1 else ("pg_hba_rules",) * 2
    name = base if c[base] is not None else added
    return join(join("all.children", cluster.group or cluster.name), f"vars.{name}")


def hba_floor(inv: Inventory) -> list[Problem]:
    """Every locked-out connection of every member, in each role it can hold."""
    problems: dict[tuple[str, str], Problem] = {}
    for cluster in inv.clusters:
        checks = (False, True) if cluster.vars["pgbouncer_enabled"] else (False,)
        files: dict[tuple[bool, bool], dict[str, list[str]]] = {}
        for inst in cluster.instances:
            for pgbouncer in checks:
                # The rules differ between members only by the offline ones.
                key = (pgbouncer, inst.offline_query)
                if key not in files:
                    files[key] = derive.hba(inv.node(inst.ip), inv, cluster, pgbouncer=pgbouncer)
                for role, lines in files[key].items():
                    for conn in _connections(cluster, inst.ip, pgbouncer):
                        found = method(lines, conn)
                        if found is not None and found != "reject":
                            continue
                        where = _where(cluster, pgbouncer, inv.release)
                        service = "Pgbouncer" if pgbouncer else "Postgres"
                        source = "the local socket" if conn.source is LOCAL else conn.source
                        why = "a reject rule matches first" if found == "reject" else "no rule admits it"
                        message = (
                            f"{service} HBA of {inst.name} as {role} locks out {conn.user} "
                            f"(database {conn.db} from {source}, for {conn.what}): {why}"
                        )
                        problems.setdefault((where, message), Problem(where, message))
    return list(problems.values())
