"""What the orchestrations apply to each node, as one table.

``pigsty.infra`` applies ``INFRA`` to the meta nodes, ``pigsty.node`` applies ``NODE`` to every
node, ``pigsty.cluster`` applies ``CLUSTER`` to a cluster's members (in the order below; the
orchestrations add the targets and the waits between members). A node whose formulas would
change nothing under ``test=True`` is deployed: ``pigsalt deploy`` checks that first, on every
node at once, and runs the orchestrations only when something would change (tests compare these
lists with the orchestration files).
"""

from __future__ import annotations

from pigsalt.inventory.model import Inventory

INFRA = ("repo", "nginx", "dns", "chrony", "etcd", "checks.infra")
NODE = ("repo", "node", "chrony", "checks.node")
CLUSTER = (
    "pgsql.install",
    "pgsql",
    "checks.pgsql",
    "checks.replication",
    "pgsql.dynamic",
    "pgsql.restart",
    "pgsql.hba",
    "pgsql.users",
    "pgbouncer",
    "haproxy",
    "vip",
    "exporters",
    "checks.services",
)


def node_formulas(inv: Inventory, cluster: str | None = None) -> dict[str, list[str]]:
    """Each node's formulas, by minion id, in the order the orchestrations apply them; with
    ``cluster``, only that cluster's members and only ``pigsty.cluster``'s formulas."""
    plan: dict[str, list[str]] = {}
    for node in inv.nodes:
        member = node.instance is not None and node.instance.cluster == cluster
        if cluster is not None:
            if member:
                plan[node.name] = list(CLUSTER)
            continue
        steps = (INFRA if node.meta else ()) + NODE + (CLUSTER if node.instance is not None else ())
        plan[node.name] = list(dict.fromkeys(steps))
    return plan
