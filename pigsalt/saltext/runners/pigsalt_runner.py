"""Runner ``pigsalt``: what the orchestrations need to know about the inventory, on the master.

Found through pigsalt's ``salt.loader`` entry point, like the ext_pillar, and reads the same
inventory (the ``pigsalt`` entry of the master's ``ext_pillar``). No secrets.

CLI Example:

.. code-block:: bash

    salt-run pigsalt.clusters
    salt-run pigsalt.stages
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__virtualname__ = "pigsalt"


def __virtual__() -> str | tuple[bool, str]:
    try:
        import pigsalt.pillar.build  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the master's environment
        return False, f"the pigsalt package cannot be imported: {err}"
    return __virtualname__


def _inventory() -> Path:
    for entry in __opts__.get("ext_pillar") or []:  # type: ignore[name-defined]
        if isinstance(entry, dict) and "pigsalt" in entry:
            return Path(entry["pigsalt"]["inventory"])
    raise RuntimeError("the master has no `pigsalt` ext_pillar (run `pigsalt master setup`)")


def clusters() -> dict[str, Any]:
    """Every cluster of the inventory with its members' minion ids: the inventory's primary
    (it bootstraps a new cluster) and the others.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.clusters
    """
    from pigsalt.errors import PigsaltError
    from pigsalt.pillar.build import cluster_members

    try:
        return cluster_members(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None


def published_passwords() -> dict[str, list[str]]:
    """Where the inventory sets a published default password (``{"paths": [...]}``): ``pigsalt
    deploy`` refuses to deploy them unless told to. Paths only, never a value.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.published_passwords
    """
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.inventory.validate import PUBLISHED_MESSAGE

    try:
        _, loaded = open_inventory(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    return {"paths": [p.path for p in loaded.report.warnings if p.message == PUBLISHED_MESSAGE]}


def stages() -> list[list[dict[str, Any]]]:
    """The orchestrations of a whole deployment, stage by stage (``pigsalt.plan.DEPLOY``):
    what ``pigsty.deploy`` runs, and ``pigsalt deploy`` too.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.stages
    """
    from pigsalt.plan import deploy_stages

    return deploy_stages(clusters())


def formulas(cluster: str | None = None) -> dict[str, list[str]]:
    """Each node's formulas by minion id, in the order the orchestrations apply them (with
    ``cluster``: that cluster's members and ``pigsty.cluster``'s formulas only). ``pigsalt
    deploy`` checks them with ``test=True`` before it runs any orchestration.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.formulas
        salt-run pigsalt.formulas cluster=pg-test
    """
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.plan import node_formulas

    try:
        inv, _ = open_inventory(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    if cluster is not None and cluster not in {c.name for c in inv.clusters}:
        raise RuntimeError(f"cluster {cluster} is not in the inventory ({', '.join(c.name for c in inv.clusters)})")
    return node_formulas(inv, cluster)


def status(cluster: str | None = None) -> dict[str, Any]:
    """What ``pigsalt status`` shows, gathered here on the master (a meta node): each cluster's
    members from Patroni (``GET /cluster`` over HTTPS, verified with the local CA), the VIP's
    holder from the members' addresses, the services' healthy backends, the scrapes and the
    firing alerts from Prometheus. No secrets.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.status
        salt-run pigsalt.status cluster=pg-test
    """
    import salt.client

    from pigsalt import status as st
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.pillar.build import node_pillar

    inventory = _inventory()
    try:
        inv, _ = open_inventory(inventory)
        names = [c.name for c in inv.clusters]
        if cluster is not None and cluster not in names:
            raise RuntimeError(f"cluster {cluster} is not in the inventory ({', '.join(names)})")
        chosen = [c for c in inv.clusters if cluster is None or c.name == cluster]
        nodes = {n.ip: n.name for n in inv.nodes}
        specs, cafile = [], None
        for c in chosen:
            pillar, _ = node_pillar(inventory, nodes[c.primary.ip])
            specs.append(st.ClusterSpec.from_pillar(pillar, nodes))
            cafile = pillar["pigsty"]["tls"]["ca_cert"]
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    minions = sorted({node for s in specs for node, _ in s.members.values()})
    client = salt.client.get_local_client(__opts__["conf_file"])  # type: ignore[name-defined]
    addresses = client.cmd(minions, "network.ip_addrs", tgt_type="list", timeout=10) if minions else {}
    return st.gather(specs, addresses, cafile)
