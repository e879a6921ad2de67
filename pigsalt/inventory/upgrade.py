"""A successor cluster (``pg_upgrade_from: SOURCE``) inherits its source's definitions.

The successor of a major-version upgrade serves the same users, databases, HBA rules, services
and VIP as its source, so the inventory writes them once, in the source's vars: ``inherit``
gives the successor, in a new raw inventory, each of ``INHERITED`` that its own vars do not set.
It runs before validation (``model.check``), so validation and the model see the same values;
the file as written (what ``pigsalt pillar build`` copies) keeps them in the source only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from pigsalt.inventory.params import PARAMS
from pigsalt.inventory.pigsty import V2, release
from pigsalt.inventory.schema import Problem, join
from pigsalt.inventory.validate import V2_NODE_VIP

# The source's definitions, in both releases' names: users, databases, HBA rules, services, VIP.
INHERITED = tuple(
    name
    for name in (
        "pg_users",
        "pg_databases",
        "pg_hba_rules",
        "pg_hba_rules_extra",
        "pg_default_hba_rules",
        "pgb_hba_rules",
        "pgb_default_hba_rules",
        "pgbouncer_hba_rules",
        "pgbouncer_hba_rules_extra",
        "pg_services",
        "pg_services_extra",
        "pg_default_services",
        "pg_vip_enabled",
        "pg_vip_address",
        "pg_vip_interface",
        "vip_mode",
        "vip_address",
        "vip_cidrmask",
        "vip_interface",
    )
    if name in PARAMS
)


def _vars(group: Any) -> Mapping[str, Any]:
    found = group.get("vars") if isinstance(group, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _inheritance(raw: Mapping[str, Any]) -> Iterator[tuple[Any, Any, list[str]]]:
    """Each successor group's key, its source group's key and the parameters it takes from there."""
    top = raw.get("all")
    children = top.get("children") if isinstance(top, Mapping) else None
    if not isinstance(children, Mapping):
        return
    sources: dict[str, Any] = {}
    for name, group in children.items():
        cluster = _vars(group).get("pg_cluster")
        if isinstance(cluster, str):
            sources.setdefault(cluster, name)
    # In a Pigsty 2+ inventory vip_* is the node's keepalived VIP, not the cluster's.
    skipped = V2_NODE_VIP if release(raw).major == V2 else frozenset()
    for name, group in children.items():
        wanted = _vars(group).get("pg_upgrade_from")
        source = sources.get(wanted) if isinstance(wanted, str) else None
        if source is None or source == name:
            continue
        own, given = _vars(group), _vars(children[source])
        keys = [k for k in INHERITED if k in given and k not in own and k not in skipped]
        if keys:
            yield name, source, keys


def inherit(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` with each successor's missing definitions copied from its source; ``raw`` is not changed.

    A source name that is no cluster of the inventory is left for validation to report.
    """
    plan = list(_inheritance(raw))
    if not plan:
        return raw
    top = raw["all"]
    children = dict(top["children"])
    for name, source, keys in plan:
        given = _vars(children[source])
        children[name] = {
            **children[name],
            "vars": {**_vars(children[name]), **{k: copy.deepcopy(given[k]) for k in keys}},
        }
    return {**raw, "all": {**top, "children": children}}


def located(problems: list[Problem], raw: Mapping[str, Any]) -> list[Problem]:
    """``problems`` of the inherited inventory, told in terms of the file as written.

    A problem in a value the successor inherited is dropped when the source has the same one
    (it is reported there, where it is written); otherwise it says where the value comes from.
    """
    moved = {
        join(join("all.children", name), f"vars.{key}"): join(join("all.children", source), f"vars.{key}")
        for name, source, keys in _inheritance(raw)
        for key in keys
    }
    if not moved:
        return problems
    seen = set(problems)
    result = []
    for problem in problems:
        origin = next((p for p in moved if problem.path == p or problem.path.startswith((p + ".", p + "["))), None)
        if origin is None:
            result.append(problem)
            continue
        source = moved[origin]
        at_source = Problem(
            source + problem.path[len(origin) :], problem.message.replace(origin, source), problem.warning
        )
        if at_source not in seen:
            result.append(Problem(problem.path, f"{problem.message} (inherited from {source})", problem.warning))
    return result
