"""pgBackRest as pillar: each member's client side (``pigsty:pg:backup``) and the repository's
TLS server on the first meta node (``pigsty:infra:backup``).

The repository lives on the first meta node (the local CA's node), never on a database node, so
a lost member takes no backup with it. The members reach it through pgBackRest's own TLS server:
each presents a client certificate whose CN is its node name (``pigsalt.pillar.tls``, issued
next to its node certificate), and the server's ``tls-server-auth`` lets that name reach its own
cluster's stanza only, as etcd's RBAC keeps each cluster to its own keys. Backups run on the
primary (pgBackRest 2.55 backs up to a remote repository from the database host); the WAL is
pushed asynchronously from whichever member is primary.

pgBackRest's client and server must be the same version: a cluster whose Debian release ships
another pgBackRest than the repository node's is not backed up (the validator warns).
"""

from __future__ import annotations

import re
from typing import Any

from pigsalt.inventory import cron
from pigsalt.inventory.model import Cluster, Inventory, Node
from pigsalt.inventory.schema import Problem
from pigsalt.pillar.tls import CLIENT_CERT, NODE_CERT, NODE_KEY

CONFIG = "/etc/pgbackrest/pgbackrest.conf"
# The server's own file: on the meta node, which is also a member of pg-meta (CONFIG, a client).
SERVER_CONFIG = "/etc/pgbackrest/server.conf"
SPOOL_DIR = "/var/spool/pgbackrest"
# node_exporter's textfile collector reads this directory (node.exporter).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
METRICS_FILE = f"{TEXTFILE_DIR}/pgbackrest.prom"
DEFAULT_REPO = {"path": "/pg/backup", "retention_full_type": "count", "retention_full": 2}
# Keys of a pgbackrest_repo entry that become pgBackRest's global options, not repo1- ones.
GLOBAL_KEYS = {"compress_type": "compress-type", "compress_level": "compress-level", "process_max": "process-max"}
# Keys pigsalt sets itself (path on the server, the cipher from the secrets store).
OWN_KEYS = {"type", "path", "cipher_type", "cipher_pass"}
DEFAULTS = {"compress-type": "zst", "process-max": 2}


def server_node(inv: Inventory) -> Node:
    """The repository's node: the first meta node."""
    return inv.meta_nodes[0]


def _repo(cluster: Cluster) -> dict[str, Any]:
    """The repository entry the cluster uses; an object store's falls back to the meta node's
    ``local`` (or the default) with a warning from the validator."""
    repos = cluster.vars["pgbackrest_repo"] or {}
    repo = dict(repos.get(cluster.vars["pgbackrest_method"]) or {})
    if repo.get("type", "posix") != "posix":
        repo = dict(repos.get("local") or DEFAULT_REPO)
    return repo


def why_not(inv: Inventory, cluster: Cluster) -> str | None:
    """Why ``cluster`` is not backed up, or None when it is."""
    if not cluster.vars["pgbackrest_enabled"]:
        return "pgbackrest_enabled is false"
    server = server_node(inv)
    members = {inv.node(i.ip).release.pgbackrest for i in cluster.instances}
    if members != {server.release.pgbackrest}:
        return (
            f"its members' pgBackRest ({', '.join(sorted(members))}) is not the repository node "
            f"{server.name}'s ({server.release.pgbackrest}), and pgBackRest needs the same version at both ends"
        )
    return None


def unbacked_warnings(inv: Inventory) -> list[Problem]:
    """A warning for each cluster that asks for backups and cannot have them (the validator's
    model-level check: the Debian releases decide pgBackRest's version)."""
    found = []
    for cluster in inv.clusters:
        reason = why_not(inv, cluster)
        if cluster.vars["pgbackrest_enabled"] and reason is not None:
            where = f"all.children.{cluster.group or cluster.name}.vars.pgbackrest_enabled"
            found.append(Problem(where, f"{cluster.name} is not backed up: {reason}", warning=True))
    return found


def _flag(value: Any) -> Any:
    return ("y" if value else "n") if isinstance(value, bool) else value


def member(inv: Inventory, cluster: Cluster, cipher_pass: str) -> dict[str, Any]:
    """``pigsty:pg:backup`` of a member of ``cluster``."""
    reason = why_not(inv, cluster)
    if reason is not None:
        return {"enabled": False, "reason": reason}
    repo = _repo(cluster)
    server = server_node(inv)
    cipher = repo.get("cipher_type", "aes-256-cbc")
    options = {
        **DEFAULTS,
        **{GLOBAL_KEYS[k]: _flag(v) for k, v in repo.items() if k in GLOBAL_KEYS},
        **{
            f"repo1-{k.replace('_', '-')}": _flag(v)
            for k, v in sorted(repo.items())
            if k not in GLOBAL_KEYS and k not in OWN_KEYS
        },
    }
    if cipher != "none":
        options["repo1-cipher-type"] = cipher
    return {
        "enabled": True,
        "stanza": cluster.name,
        "config": CONFIG,
        "log_dir": cluster.vars["pgbackrest_log_dir"],
        "spool_dir": SPOOL_DIR,
        "init_backup": cluster.vars["pgbackrest_init_backup"],
        "server": {"host": server.name, "ip": server.ip, "port": inv.vars["pgbackrest_port"]},
        "cert": CLIENT_CERT,
        "key": NODE_KEY,
        "options": options,
        # The passphrase that encrypts the repository's files (pgBackRest reads it from the
        # configuration only, never from a command line).
        "cipher_pass": (repo.get("cipher_pass") or cipher_pass) if cipher != "none" else None,
        "archive_command": f"pgbackrest --stanza={cluster.name} archive-push %p",
        # Patroni's first way to build a replica (create_replica_methods): the newest backup,
        # restored as a standby (its WAL since the backup comes from the archive, then the
        # leader streams); pg_basebackup from the leader when there is no backup yet.
        "replica_command": f"pgbackrest --stanza={cluster.name} --delta --type=standby restore",
        # The backup and archive metrics (pigsalt.agent.backup_metrics, every minute) and how old
        # the newest full backup may grow before PgBackupTooOld fires.
        "metrics_file": METRICS_FILE,
        "full_max_age": full_max_age(cluster),
    }


def full_max_age(cluster: Cluster) -> int | None:
    """Seconds the newest full backup may reach: the longest gap of the most frequent
    ``pg_crontab`` line calling ``pg-backup full``, plus a tenth (at least an hour) for the
    backup itself; None without such a line (no schedule, no alert)."""
    gaps = [
        cron.longest_gap(line, cluster.vars["pg_dbsu"])
        for line in cluster.vars["pg_crontab"]
        if re.search(r"\bpg-backup\s+full\b", line)
    ]
    if not gaps:
        return None
    gap = min(gaps)
    return round(gap + max(3600.0, gap / 10))


def archive_parameters(inv: Inventory, cluster: Cluster) -> dict[str, Any]:
    """Postgres parameters for WAL archiving through pgBackRest (none when not backed up)."""
    if why_not(inv, cluster) is not None:
        return {}
    return {"archive_mode": "on", "archive_command": f"pgbackrest --stanza={cluster.name} archive-push %p"}


def server(inv: Inventory) -> dict[str, Any]:
    """``pigsty:infra:backup`` of the repository's node: the TLS server, and each backed-up
    cluster's stanza with its repository path and the nodes allowed to reach it."""
    stanzas = []
    for cluster in inv.clusters:
        if why_not(inv, cluster) is not None:
            continue
        stanzas.append(
            {
                "name": cluster.name,
                "path": str(_repo(cluster).get("path", DEFAULT_REPO["path"])),
                "nodes": sorted(inv.node(i.ip).name for i in cluster.instances),
            }
        )
    return {
        "port": inv.vars["pgbackrest_port"],
        "cert": NODE_CERT,
        "key": NODE_KEY,
        "config": CONFIG,
        "server_config": SERVER_CONFIG,
        "stanzas": stanzas,
    }
