"""The parsed inventory: frozen dataclasses built by ``Inventory.from_raw`` after validation.

Every parameter is resolved once here (host vars over cluster vars over ``all.vars`` over the
default in ``params.PARAMS``); derived values (instance names, node names) are properties.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pigsalt.debian import DEFAULT_RELEASE, RELEASES, Release
from pigsalt.errors import PigsaltError
from pigsalt.inventory import load as loader
from pigsalt.inventory import node_os, upgrade
from pigsalt.inventory.params import PARAMS
from pigsalt.inventory.pigsty import Vip, normalize, release, vip_settings
from pigsalt.inventory.validate import Report, is_etcd_group, is_meta_group, module_groups, validate


def ip_key(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def _resolve(*levels: Mapping[str, Any]) -> Mapping[str, Any]:
    """Each parameter's value: the first level that sets it, else its default."""
    values = {}
    for name, param in PARAMS.items():
        value = param.default
        for level in levels:
            if name in level:
                value = level[name]
                break
        values[name] = value
    return MappingProxyType(values)


@dataclass(frozen=True)
class Instance:
    """One Postgres instance; exactly one per node."""

    cluster: str
    ip: str
    vars: Mapping[str, Any]

    @property
    def seq(self) -> int:
        return int(self.vars["pg_seq"])

    @property
    def role(self) -> str:
        return str(self.vars["pg_role"])

    @property
    def name(self) -> str:
        return f"{self.cluster}-{self.seq}"

    @property
    def offline_query(self) -> bool:
        return bool(self.vars["pg_offline_query"]) or self.role == "offline"


@dataclass(frozen=True)
class Cluster:
    name: str
    vars: Mapping[str, Any]
    instances: tuple[Instance, ...]
    group: str = ""  # the group of all.children that defines it (v1's pg-meta lives in `meta`)

    @property
    def primary(self) -> Instance:
        return next(i for i in self.instances if i.role == "primary")

    @functools.cached_property
    def vip(self) -> Vip | None:
        """The VIP the cluster asks for, in either release's names; the interface is per node."""
        return vip_settings(self.vars.__getitem__)


@dataclass(frozen=True)
class Node:
    ip: str
    meta: bool
    vars: Mapping[str, Any]
    instance: Instance | None
    os: str = DEFAULT_RELEASE  # the Debian release it runs (node_os.py decides)

    @property
    def release(self) -> Release:
        return RELEASES[self.os]

    @property
    def name(self) -> str:
        if self.vars.get("nodename"):
            return str(self.vars["nodename"])
        if self.instance is not None:
            return self.instance.name
        return self.ip.replace(".", "-")


@dataclass(frozen=True)
class Inventory:
    vars: Mapping[str, Any]
    nodes: tuple[Node, ...]
    clusters: tuple[Cluster, ...]
    # Whose meaning the file has: 1 (Pigsty v1 and pigsalt's layout) or 2 (Pigsty 2.x and 3.x).
    release: int = 2

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> Inventory:
        """Build the model from a raw inventory that ``validate`` accepted."""
        top = raw["all"]
        gvars = dict(top.get("vars") or {})
        children = {str(k): (v or {}) for k, v in (top.get("children") or {}).items()}
        meta_ips = {str(ip) for name, g in children.items() if is_meta_group(name, g) for ip in (g.get("hosts") or {})}
        etcd = {
            f"{(g.get('vars') or {}).get('etcd_cluster', PARAMS['etcd_cluster'].default)}-{h['etcd_seq']}": str(ip)
            for name, g in children.items()
            if is_etcd_group(name, g)
            for ip, h in (g.get("hosts") or {}).items()
        }
        if etcd and gvars.get("dcs_servers") is None:
            gvars["dcs_servers"] = etcd
        skipped = module_groups(children)
        os_of = node_os.explicit(children, gvars, {name for name, g in children.items() if is_meta_group(name, g)})
        node_release: dict[str, str] = {}
        clusters = []
        host_vars: dict[str, dict[str, Any]] = {}
        instances: dict[str, Instance] = {}
        cluster_vars: dict[str, Mapping[str, Any]] = {}
        for name_of_group, group in children.items():
            if name_of_group in skipped:
                continue
            cvars = group.get("vars") or {}
            hosts = {str(ip): (h or {}) for ip, h in (group.get("hosts") or {}).items()}
            for ip, hvars in hosts.items():
                host_vars.setdefault(ip, {}).update(hvars)
            if "pg_cluster" not in cvars:
                continue
            name = str(cvars["pg_cluster"])
            cluster_os = node_os.cluster_release(list(hosts), os_of, cvars.get("pg_version", gvars.get("pg_version")))
            node_release.update(dict.fromkeys(hosts, cluster_os.name))
            if cvars.get("pg_version", gvars.get("pg_version")) is None:
                cvars = {**cvars, "pg_version": cluster_os.pg_default}
            members = tuple(
                sorted(
                    (Instance(name, ip, _resolve(hvars, cvars, gvars)) for ip, hvars in hosts.items()),
                    key=lambda i: i.seq,
                )
            )
            instances.update({i.ip: i for i in members})
            cluster_vars[name] = cvars
            clusters.append(Cluster(name, _resolve(cvars, gvars), members, name_of_group))
        nodes = []
        for ip in sorted(host_vars, key=ip_key):
            inst = instances.get(ip)
            cvars = cluster_vars[inst.cluster] if inst is not None else {}
            os = node_release.get(ip) or (os_of[ip].value if ip in os_of else DEFAULT_RELEASE)
            nodes.append(Node(ip, ip in meta_ips, _resolve(host_vars[ip], cvars, gvars), inst, os))
        by_name = tuple(sorted(clusters, key=lambda c: c.name))
        return cls(_resolve(gvars), tuple(nodes), by_name, release(raw).major)

    def node(self, key: str) -> Node:
        """A node by minion id: its name, IP or instance name."""
        found = self._by_key.get(key)
        if found is not None:
            return found
        names = ", ".join(n.name for n in self.nodes)
        raise UnknownNode(f"node {key!r} is not in the inventory (nodes: {names})")

    def successor(self, name: str) -> Cluster | None:
        """The cluster whose ``pg_upgrade_from`` names cluster ``name`` (validation allows one)."""
        return self._successors.get(name)

    def cluster(self, name: str) -> Cluster:
        found = self._by_name.get(name)
        if found is not None:
            return found
        raise PigsaltError(f"cluster {name!r} is not in the inventory ({', '.join(c.name for c in self.clusters)})")

    @functools.cached_property
    def _by_key(self) -> dict[str, Node]:
        index: dict[str, Node] = {}
        for node in reversed(self.nodes):  # the first node wins, as a scan in order would
            index[node.ip] = node
            index[node.name] = node
            if node.instance is not None:
                index[node.instance.name] = node
        return index

    @functools.cached_property
    def _by_name(self) -> dict[str, Cluster]:
        return {c.name: c for c in self.clusters}

    @functools.cached_property
    def _successors(self) -> dict[str, Cluster]:
        return {str(c.vars["pg_upgrade_from"]): c for c in self.clusters if c.vars["pg_upgrade_from"] is not None}

    @functools.cached_property
    def meta_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.meta)


class UnknownNode(PigsaltError):
    """A node name, IP or instance name that the inventory does not have."""


class InventoryError(PigsaltError):
    """An inventory with errors; ``report`` holds all of them."""

    def __init__(self, source: Path, report: Report) -> None:
        self.report = report
        first = report.errors[0]
        more = len(report.errors) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''}; run pigsalt validate)" if more else ""
        super().__init__(f"{source}: {first}{suffix}")


@dataclass(frozen=True)
class Loaded:
    """An inventory read from disk: the raw data (as written), where it came from, the report and the model."""

    raw: Mapping[str, Any]
    source: loader.Source
    report: Report
    inventory: Inventory | None


def check(path: Path) -> Loaded:
    """Read and validate; never raises for problems in the content (they are in ``report``).

    Validation and the model read the inventory with each successor's inherited definitions
    (``upgrade.inherit``); ``raw`` stays as written, and so do the problems' paths.
    """
    found, source = loader.load(path)
    raw, normalized = normalize(found)
    full = upgrade.inherit(raw)
    report = validate(full)
    report.problems[:] = upgrade.located(report.problems, raw)
    report.problems.extend(source.problems)
    report.problems.extend(normalized)
    inventory = Inventory.from_raw(full) if report.ok else None
    if inventory is not None:
        # What only the derived rules show: an HBA that locks out the dbsu, replicator or monitor.
        from pigsalt.pillar.backup import unbacked_warnings
        from pigsalt.pillar.floor import hba_floor

        report.problems.extend(hba_floor(inventory))
        report.problems.extend(unbacked_warnings(inventory))
        if not report.ok:
            inventory = None
    return Loaded(raw, source, report, inventory)


def open_inventory(path: Path) -> tuple[Inventory, Loaded]:
    """Read, validate and build; raises ``InventoryError`` when there is any error."""
    loaded = check(path)
    if loaded.inventory is None:
        raise InventoryError(path, loaded.report)
    return loaded.inventory, loaded
