"""What the orchestrations apply to each node, as one table.

``pigsty.infra`` applies ``INFRA`` to the meta nodes, ``pigsty.node`` applies ``NODE`` to every
node, ``pigsty.cluster`` applies ``CLUSTER`` to a cluster's members (in the order below; the
orchestrations add the targets and the waits between members). A node whose formulas would
change nothing under ``test=True`` is deployed: ``pigsalt deploy`` checks that first, on every
node at once, and runs the orchestrations only when something would change (tests compare these
lists with the orchestration files).

``DEPLOY`` is the order of a whole deployment, read by both ``pigsalt deploy`` and the
``pigsty.deploy`` orchestration (through the ``pigsalt.stages`` runner).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pigsalt.inventory.model import Inventory

INFRA = (
    *("repo", "nginx", "dns", "chrony", "pki.ca", "pki.key", "pki.sign", "pki", "etcd"),
    *("prometheus", "alertmanager", "grafana", "checks.infra"),
)
# pki.sign acts on the CA node only (pigsty.node targets it there; elsewhere it does nothing).
NODE = ("repo", "node", "node.firewall", "chrony", "pki.key", "pki.sign", "pki", "checks.node")
# pgsql.restapi, haproxy and vip come first: on a cluster deployed before pigsalt's TLS they
# switch Patroni's REST API and its clients to HTTPS together (pigsty.cluster applies haproxy and
# vip again later; on a new cluster the first pass installs and configures only).
CLUSTER = (
    "pgsql.restapi",
    "haproxy",
    "vip",
    "pgsql",
    "checks.pgsql",
    "checks.replication",
    "pgsql.dynamic",
    "pgsql.restart",
    "pgsql.hba",
    "pgsql.users",
    "pgbouncer",
    "pgsql.fence",
    "pgsql.events",
    "exporters",
    "checks.services",
)

# After a cluster's formulas, on the meta nodes: Prometheus discovers the cluster's targets
# (with the roles Patroni reports) and dnsmasq names a cluster without a VIP on its leader.
REGISTER = ("prometheus.targets", "dns", "nginx.index")

# A whole deployment, stage after stage: each stage starts when the one before has succeeded.
# ``pigsty.cluster`` runs once per cluster, all clusters side by side (they share no node). There
# each one skips its registration (``pg_register: false``): pigsty.infra has already written
# every target of the inventory, and a registration on the meta nodes would collide with
# pg-meta's own run there (Salt refuses a second state run on a busy minion).
DEPLOY = ("pigsty.infra", "pigsty.node", "pigsty.cluster")
CLUSTER_ORCH = "pigsty.cluster"


def deploy_stages(clusters: Iterable[str], only: str | None = None) -> list[list[dict[str, Any]]]:
    """The orchestrations of a deployment, stage by stage: ``{id, mods, pillar}`` each (``id``
    names the step: the cluster, or the orchestration). With ``only``, that cluster's alone."""
    stages: list[list[dict[str, Any]]] = []
    for mods in DEPLOY:
        if mods == CLUSTER_ORCH:
            names = [only] if only is not None else sorted(clusters)
            extra = {} if only is not None else {"pg_register": False}
            stages.append([{"id": name, "mods": mods, "pillar": {"pg_cluster": name, **extra}} for name in names])
        elif only is None:
            stages.append([{"id": mods.removeprefix("pigsty."), "mods": mods, "pillar": None}])
    return [stage for stage in stages if stage]


def node_formulas(inv: Inventory, cluster: str | None = None) -> dict[str, list[str]]:
    """Each node's formulas, by minion id, in the order the orchestrations apply them; with
    ``cluster``, that cluster's members with ``pigsty.cluster``'s formulas and the meta nodes with
    its registration (``REGISTER``)."""
    plan: dict[str, list[str]] = {}
    for node in inv.nodes:
        member = node.instance is not None and node.instance.cluster == cluster
        if cluster is not None:
            steps = (CLUSTER if member else ()) + (REGISTER if node.meta else ())
            if steps:
                plan[node.name] = list(steps)
            continue
        steps = (INFRA if node.meta else ()) + NODE + (CLUSTER if node.instance is not None else ())
        plan[node.name] = list(dict.fromkeys(steps))
    return plan
