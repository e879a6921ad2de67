"""Runner ``pigsalt``: what the orchestrations need to know about the inventory, on the master.

Found through pigsalt's ``salt.loader`` entry point, like the ext_pillar, and reads the same
inventory (the ``pigsalt`` entry of the master's ``ext_pillar``). No secrets.

CLI Example:

.. code-block:: bash

    salt-run pigsalt.clusters
    salt-run pigsalt.stages
    salt-run pigsalt.restapi_schemes pg-test
    salt-run pigsalt.deploy_check
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


def restapi_schemes(cluster: str) -> dict[str, str]:
    """The scheme each member of ``cluster`` answers in on its Patroni REST API port, probed
    from here (a meta node, which the node firewall lets in): ``https``, ``http`` (deployed
    before pigsalt's TLS), ``down`` (no Patroni running) or ``unknown``. ``pigsty.cluster``
    runs its TLS conversion steps only when a member is ``http`` or ``unknown``.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.restapi_schemes pg-test
    """
    from pigsalt import restapi
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory

    try:
        inv, _ = open_inventory(_inventory())
        spec = inv.cluster(cluster)
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    port = int(spec.vars["patroni_port"])
    found = restapi.schemes({inv.node(i.ip).name: (i.ip, port) for i in spec.instances})
    return {minion: str(scheme) for minion, scheme in found.items()}


def published_passwords() -> dict[str, list[str]]:
    """Where the inventory sets a published default password (``{"paths": [...]}``): ``pigsalt
    deploy`` refuses to deploy them unless told to. Paths only, never a value.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.published_passwords
    """
    return {"paths": _plan(None)[1]}


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
    return _plan(cluster)[0]


def _plan(cluster: str | None) -> tuple[dict[str, list[str]], list[str]]:
    """Each node's formulas (``formulas``), and where the inventory sets a published password."""
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.inventory.validate import PUBLISHED_MESSAGE
    from pigsalt.plan import node_formulas

    try:
        inv, loaded = open_inventory(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    if cluster is not None and cluster not in {c.name for c in inv.clusters}:
        raise RuntimeError(f"cluster {cluster} is not in the inventory ({', '.join(c.name for c in inv.clusters)})")
    published = [w.path for w in loaded.report.warnings if w.message == PUBLISHED_MESSAGE]
    return node_formulas(inv, cluster), published


def _state_check(client: Any, plan: dict[str, list[str]], timeout: int) -> dict[str, Any]:
    """Each minion's ``state.sls <its formulas> test=True`` return, one job per group of minions
    with the same formulas, every job published before any is waited for (they run side by
    side); a minion that did not answer is absent."""
    from pigsalt.orch import group_by_formulas

    jobs = [
        (
            client.run_job(minions, "state.sls", [",".join(mods)], tgt_type="list", kwarg={"test": True}, listen=True),
            minions,
        )
        for mods, minions in group_by_formulas(plan).items()
    ]
    returns: dict[str, Any] = {}
    for pub, minions in jobs:
        if not pub:
            continue
        for found in client.get_cli_event_returns(pub["jid"], pub["minions"], timeout, minions, "list"):
            for minion, data in (found or {}).items():
                if isinstance(data, dict) and "ret" in data:
                    returns[minion] = data["ret"]
    return returns


def deploy_check(cluster: str | None = None, thorough: bool = False, timeout: int = 600) -> dict[str, Any]:
    """Everything ``pigsalt deploy`` asks before it runs an orchestration, in one call: where the
    inventory sets a published default password (paths only), each node's formulas (as
    ``formulas``), and every node's formulas checked with ``test=True``, all nodes at once.

    Unless ``thorough``, a whole deployment first asks which nodes have never been deployed
    (no ``plan.DEPLOYED_MARK``): with one, nothing is checked (``new`` names them, and the
    orchestrations run anyway); a cluster's deployment checks each member's first formula before
    the others, for the same reason (``checked: first``). ``returns`` holds each minion's state
    returns, which can hold the secrets of the states' arguments: print no more than the CLI does.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.deploy_check
        salt-run pigsalt.deploy_check cluster=pg-test thorough=True
    """
    import time

    import salt.client

    from pigsalt import orch
    from pigsalt.plan import DEPLOYED_MARK

    start = time.monotonic()
    plan, published = _plan(cluster)
    found: dict[str, Any] = {
        "published": published,
        "formulas": plan,
        "new": [],
        "checked": "all",
        "returns": {},
    }
    client = salt.client.get_local_client(__opts__["conf_file"])  # type: ignore[name-defined]
    if not thorough and cluster is None:
        marked = client.cmd(list(plan), "file.file_exists", [DEPLOYED_MARK], tgt_type="list", timeout=30) or {}
        found["new"] = sorted(m for m in plan if marked.get(m) is not True)
        if found["new"]:
            found["checked"] = "none"
    elif not thorough:
        first = {minion: mods[:1] for minion, mods in plan.items()}
        returns = _state_check(client, first, timeout)
        checked = orch.parse_returns(returns, sorted(first), 0.0)
        if not checked.ok or checked.changed:
            found.update(checked="first", returns=returns)
    if found["checked"] == "all":
        found["returns"] = _state_check(client, plan, timeout)
    found["seconds"] = round(time.monotonic() - start, 3)
    return found


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


def register(
    minion: str, event: str = "start", cluster: str | None = None, instance: str | None = None
) -> dict[str, Any]:
    """Register what an event says changed, from the inventory and Patroni (the reactor calls
    this; ``pigsalt.monitor.registry``): on the meta nodes, Prometheus' targets with the roles
    Patroni reports, the DNS records and the HAProxy index (``prometheus.targets``, ``dns``,
    ``nginx.index``); the CMDB's
    ``pigsty.registration`` rows when the CMDB answers. (A member's role-gated files, its HBA
    rules, are switched by Patroni's callback on the member itself, before this runs.)
    ``minion`` is the id Salt authenticated as the event's sender; ``cluster`` and ``instance``
    are what the event claims, checked against it. A minion that is not in the inventory is not
    registered, and no key is ever accepted here.

    CLI Example:

    .. code-block:: bash

        salt-run pigsalt.register node-1 event=role_change cluster=pg-test instance=pg-test-1
    """
    import logging

    import salt.client

    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import open_inventory
    from pigsalt.monitor import registry
    from pigsalt.pillar.prometheus import SD_DIR

    log = logging.getLogger(__name__)
    try:
        inv, _ = open_inventory(_inventory())
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory: {err.message}") from None
    decision = registry.decide(inv, str(minion), str(event), {"cluster": cluster, "instance": instance})
    found: dict[str, Any] = {"minion": decision.minion, "event": decision.event, "accepted": decision.accepted}
    found["reason"] = decision.reason
    if not decision.accepted:
        log.warning("pigsalt registration: %s", decision.reason)
        return found
    client = salt.client.get_local_client(__opts__["conf_file"])  # type: ignore[name-defined]

    def apply(tgt: str, tgt_type: str, states: tuple[str, ...]) -> dict[str, Any]:
        returns = client.cmd(
            tgt, "state.sls", [",".join(states)], tgt_type=tgt_type, kwarg={"queue": True}, timeout=300
        )
        summary: dict[str, Any] = {}
        for node, ret in sorted((returns or {}).items()):
            if not isinstance(ret, dict):
                summary[node] = {"failed": [str(ret)[:300]]}
                continue
            failed = [str(r.get("comment", k))[:300] for k, r in ret.items() if not r.get("result")]
            summary[node] = {"changed": sum(1 for r in ret.values() if r.get("changes")), "failed": failed}
        return summary

    # Only meta nodes that pigsty.infra deployed: a registration never installs Prometheus or
    # dnsmasq (a minion starting before the first deploy registers nothing).
    ready = client.cmd("I@pigsty:node:meta:True", "file.directory_exists", [SD_DIR], tgt_type="compound", timeout=30)
    meta = sorted(m for m, ok in (ready or {}).items() if ok is True)
    found["meta"] = apply(",".join(meta), "list", registry.META_STATES) if meta else {}
    if not meta:
        found["reason"] += f"; no meta node has {SD_DIR} yet (pigsty.infra registers every target)"
    try:
        _cmdb_psql(registry.record_sql(decision))
        found["cmdb"] = "recorded"
    except RuntimeError as err:  # the CMDB is optional: not loaded yet, pg-meta not deployed
        found["cmdb"] = f"not recorded: {str(err).splitlines()[0][:200]}"
    failed = [n for n, r in found["meta"].items() if r["failed"]]
    log.log(logging.WARNING if failed else logging.INFO, "pigsalt registration: %s: %s", decision.reason, found)
    return found


def _cmdb_failure(err: Any) -> str:
    """One line for a failure to reach the CMDB: the CMDB's own, or the inventory's."""
    from pigsalt.cmdb import source

    return str(err.message) if isinstance(err, source.CmdbError) else f"pigsalt inventory: {err.message}"


def _cmdb_psql(script: str) -> str:
    """Run ``script`` on the CMDB (``pigsalt.cmdb.source.run``); a failure is one line."""
    from pigsalt.cmdb import source
    from pigsalt.errors import PigsaltError

    try:
        return source.run(_inventory(), script)
    except PigsaltError as err:
        raise RuntimeError(_cmdb_failure(err)) from None


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
    from pigsalt.cmdb import source
    from pigsalt.errors import PigsaltError

    try:
        return {"inventory": source.dump_text(_inventory())}
    except PigsaltError as err:
        raise RuntimeError(_cmdb_failure(err)) from None
