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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pigsalt.inventory.model import Inventory

INFRA = (
    *("repo", "nginx", "dns", "chrony", "pki.ca", "pki.key", "pki.sign", "pki", "etcd", "pgbackrest.server"),
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
    "pgbackrest",
    "checks.pgsql",
    "checks.replication",
    "pgsql.dynamic",
    "pgsql.restart",
    "pgsql.hba",
    "pgsql.users",
    "pgbackrest.stanza",
    "pgbouncer",
    "pgsql.fence",
    "pgsql.events",
    "pgsql.crontab",
    "exporters",
    "checks.services",
)

# After a cluster's formulas, on the meta nodes: Prometheus discovers the cluster's targets
# (with the roles Patroni reports) and dnsmasq names a cluster without a VIP on its leader.
REGISTER = ("prometheus.targets", "dns", "nginx.index")

# What the first formula of a whole deployment (``repo``, first in INFRA and in NODE) leaves on
# every node it ran on, and nothing else writes (a sandbox node or a Vagrant box comes with
# pigsalt.sources already): a node without it is new, and its formulas need not be checked
# before the orchestrations run (they would all change).
DEPLOYED_MARK = "/var/lib/apt/pigsalt.InRelease"

# A whole deployment, stage after stage: each stage starts when the one before has succeeded.
# ``pigsty.cluster`` runs once per cluster, all clusters side by side (they share no node). There
# each one skips its registration (``pg_register: false``): pigsty.infra has already written
# every target of the inventory, and a registration on the meta nodes would collide with
# pg-meta's own run there (Salt refuses a second state run on a busy minion).
INFRA_ORCH, NODE_ORCH, CLUSTER_ORCH = "pigsty.infra", "pigsty.node", "pigsty.cluster"
DEPLOY = (INFRA_ORCH, NODE_ORCH, CLUSTER_ORCH)


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


def step_formulas(
    step_id: str, plan: Mapping[str, Sequence[str]], members: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """The formulas one step of a whole deployment (``deploy_stages``) applies, by minion, out
    of the deployment's ``plan`` (``node_formulas``): ``infra`` INFRA's on the meta nodes,
    ``node`` NODE's on every node, a cluster's name CLUSTER's on its ``members``."""
    wanted: tuple[str, ...]
    if step_id == INFRA_ORCH.removeprefix("pigsty."):  # the meta nodes: those with formulas of INFRA alone
        wanted, minions = INFRA, [m for m in plan if set(plan[m]) & (set(INFRA) - set(NODE))]
    elif step_id == NODE_ORCH.removeprefix("pigsty."):
        wanted, minions = NODE, list(plan)
    else:
        wanted, minions = CLUSTER, [m for m in plan if m in set(members.get(step_id, ()))]
    found = {m: [f for f in plan[m] if f in wanted] for m in minions}
    return {m: formulas for m, formulas in found.items() if formulas}


def changed_steps(
    changes: Iterable[tuple[str, str]],
    stages: Sequence[Sequence[Mapping[str, Any]]],
    plan: Mapping[str, Sequence[str]],
    members: Mapping[str, Sequence[str]],
) -> set[str]:
    """The steps of ``stages`` that a check's would-be changes ((minion, SLS file) pairs) call
    for. A change belongs to the earliest step whose formulas on that minion include its file
    (``pgsql.config`` is part of ``pgsql``), so no step that could make it is skipped; one no
    step claims calls for every step."""
    order = [step["id"] for stage in stages for step in stage]
    owned = {step_id: step_formulas(step_id, plan, members) for step_id in order}
    needed: set[str] = set()
    for minion, sls in changes:
        owner = next(
            (
                step_id
                for step_id in order
                if any(sls == f or sls.startswith(f + ".") for f in owned[step_id].get(minion, ()))
            ),
            None,
        )
        if owner is None:
            return set(order)
        needed.add(owner)
    return needed


def later_formulas(
    stages: Sequence[Sequence[Mapping[str, Any]]],
    after: int,
    plan: Mapping[str, Sequence[str]],
    members: Mapping[str, Sequence[str]],
) -> dict[str, list[str]]:
    """Every minion's formulas of the stages after stage ``after``, in the plan's order: what
    a check looks at again once a stage changed something."""
    wanted: dict[str, set[str]] = {}
    for stage in stages[after + 1 :]:
        for step in stage:
            for minion, formulas in step_formulas(step["id"], plan, members).items():
                wanted.setdefault(minion, set()).update(formulas)
    return {m: [f for f in plan[m] if f in wanted[m]] for m in plan if m in wanted}
