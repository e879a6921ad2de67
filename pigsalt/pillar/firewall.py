"""The node firewall's pillar (``pigsty:node:firewall``): who may reach which port of a node.

Two layers, in nftables' order (``salt/node/files/firewall.nft.j2`` writes them):

1. **Control ports**, whatever the source's network: each is open to the sources that need
   it and closed (TCP reset) to everyone else, the intranet included.

   ===============================  ===================================================
   port                             open to
   ===============================  ===================================================
   node exporter (9100)             meta nodes
   Postgres, Pgbouncer exporters,   meta nodes
   HAProxy admin page and /metrics
   Patroni REST API (8008)          the cluster's members, the other side of a
                                    major-version upgrade, meta nodes
   etcd clients (2379)              every node of the inventory (Patroni, pigsalt), meta
   etcd peers (2380)                the DCS members
   ===============================  ===================================================

   ``node_firewall_trusted`` (CIDRs) is added to every one of them: an admin or monitoring
   station outside the inventory (the sandbox's host, which runs the tests).

2. **Zone** (Pigsty's ``node_firewall_mode: zone``): from ``node_firewall_intranet`` every
   other port is open; from anywhere else only ``node_firewall_public_port``. Replies to the
   node's own connections, loopback and ICMP always pass.

``off`` (Pigsty's ``disabled`` too) removes pigsalt's table; ``none`` leaves the node's firewall
to its owner. Pigsty's ``rules`` is read as ``zone``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pigsalt.inventory.model import Inventory, Node
from pigsalt.pillar import backup

# Pigsty's spellings, as pigsalt applies them.
MODES = {"zone": "zone", "rules": "zone", "off": "off", "disabled": "off", "none": "none"}
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
TABLE = "pigsalt"


def _hosts(addresses: list[str]) -> list[str]:
    """Sorted, unique networks (a bare address as /32) for an nftables set."""
    networks = {ipaddress.ip_network(a if "/" in a else f"{a}/32", strict=False) for a in addresses}
    return [str(n) for n in sorted(networks, key=lambda n: (n.version, n.network_address, n.prefixlen))]


def _rule(name: str, port: int, sources: list[str], trusted: list[str]) -> dict[str, Any]:
    return {"name": name, "port": int(port), "sources": _hosts([*sources, *trusted])}


def node_firewall(inv: Inventory, node: Node, haproxy_admin_port: int) -> dict[str, Any]:
    """``pigsty:node:firewall`` of ``node``."""
    v = node.vars
    mode = MODES[v["node_firewall_mode"]]
    meta = [n.ip for n in inv.meta_nodes]
    trusted = list(v["node_firewall_trusted"])
    rules = [_rule("node exporter", v["node_exporter_port"], meta, trusted)]
    if node.instance is not None:
        cluster = inv.cluster(node.instance.cluster)
        cv = cluster.vars
        partners = [i.ip for i in cluster.instances]
        for other in (cv["pg_upgrade_from"], getattr(inv.successor(cluster.name), "name", None)):
            if other is not None:
                partners += [i.ip for i in inv.cluster(other).instances]
        rules += [
            _rule("Postgres exporter", cv["pg_exporter_port"], meta, trusted),
            _rule("Pgbouncer exporter", cv["pgbouncer_exporter_port"], meta, trusted),
            _rule("HAProxy admin page and metrics", haproxy_admin_port, meta, trusted),
            _rule("Patroni REST API", cv["patroni_port"], [*partners, *meta], trusted),
        ]
    dcs = inv.vars["dcs_servers"] or {n.name: n.ip for n in inv.meta_nodes}
    if node.ip in dcs.values():
        everyone = [n.ip for n in inv.nodes]
        rules += [
            _rule("etcd clients", ETCD_CLIENT_PORT, [*everyone, *meta], trusted),
            _rule("etcd peers", ETCD_PEER_PORT, list(dcs.values()), trusted),
        ]
    if node.name == backup.server_node(inv).name:
        clients = [i.ip for s in backup.server(inv)["stanzas"] for i in inv.cluster(s["name"]).instances]
        if clients:
            rules.append(_rule("pgBackRest repository (TLS server)", inv.vars["pgbackrest_port"], clients, trusted))
    return {
        "mode": mode,
        "table": TABLE,
        "rules": rules,
        "intranet": _hosts(list(v["node_firewall_intranet"])),
        "public_ports": sorted({int(p) for p in v["node_firewall_public_port"]}),
    }
