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


# The CMDB: pg-meta's database `meta`, schema `pigsty` (pigsalt.cmdb.sql).
CMDB_CLUSTER = "pg-meta"
CMDB_DATABASE = "meta"


def _cmdb_psql(script: str) -> str:
    """Run ``script`` on the CMDB's primary as the admin user (libpq picks the read-write member
    among pg-meta's; TLS verified against the local CA; the password in the environment only)."""
    import os
    import subprocess

    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.pillar.build import node_pillar

    inventory = _inventory()
    try:
        inv, _ = open_inventory(inventory)
        cluster = next((c for c in inv.clusters if c.name == CMDB_CLUSTER), None)
        if cluster is None:
            raise RuntimeError(f"the CMDB lives in cluster {CMDB_CLUSTER}, which the inventory does not have")
        pillar, _ = node_pillar(inventory, inv.node(cluster.primary.ip).name)
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    pg = pillar["pigsty"]["pg"]
    admin = pg["system_users"]["admin"]
    conninfo = " ".join(
        [
            f"host={','.join(m['ip'] for m in pg['members'])}",
            f"port={pg['port']}",
            f"dbname={CMDB_DATABASE}",
            f"user={admin['name']}",
            "target_session_attrs=read-write",
            "sslmode=verify-full",
            f"sslrootcert={pillar['pigsty']['tls']['ca_cert']}",
            "connect_timeout=10",
        ]
    )
    env = {**os.environ, "PGPASSWORD": str(admin["password"])}
    argv = ["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    done = subprocess.run(argv, input=script, capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"psql on {CMDB_CLUSTER}/{CMDB_DATABASE}: {done.stderr.strip()[-500:]}")
    return done.stdout


def cmdb_load() -> dict[str, Any]:
    """Load the inventory into the CMDB (pg-meta, database ``meta``, schema ``pigsty``): the raw
    tables as written and the derived ones, in one transaction (a failure changes nothing).

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.cmdb_load
    """
    from pigsalt.cmdb import rows, sql
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory

    inventory = _inventory()
    try:
        inv, loaded = open_inventory(inventory)
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    found = rows.from_raw(loaded.raw)
    _cmdb_psql(sql.load_script(found, inv, str(inventory)))
    return {
        "loaded": str(inventory),
        "groups": len(found.groups),
        "hosts": len(found.hosts),
        "variables": len(found.variables),
    }


def cmdb_dump() -> dict[str, Any]:
    """The inventory the CMDB holds, as YAML text (``{"inventory": text}``): it validates and
    compiles to the pillar the loaded one did. It holds the inventory's passwords.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.cmdb_dump
    """
    import json

    import yaml

    from pigsalt.cmdb import rows, sql

    found = json.loads(_cmdb_psql(sql.DUMP_QUERY))
    if found.get("all") is None:
        raise RuntimeError("the CMDB is empty: run `pigsalt cmdb load` first")
    raw = rows.to_raw(rows.Rows.from_json(found))
    return {"inventory": yaml.safe_dump(raw, sort_keys=False, default_flow_style=False, width=120)}
