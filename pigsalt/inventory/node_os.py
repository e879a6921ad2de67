"""Which Debian release each node runs, and so which PostgreSQL each cluster gets.

``node_os`` may be written on a host entry, in a cluster's vars, in the meta group's vars (for
the meta nodes) or in ``all.vars``; the first of those that a host has wins. A cluster's members
run one release. A cluster that names no release takes the one that ships its ``pg_version``;
naming neither gives ``DEFAULT_RELEASE`` and its default PostgreSQL. Validation and the model
both read the raw inventory through this module, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pigsalt.debian import DEFAULT_RELEASE, RELEASES, Release


@dataclass(frozen=True)
class Setting:
    """A host's ``node_os`` as written, and where."""

    value: str
    path: str


def _groups(children: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name, body in children.items():
        if isinstance(body, Mapping):
            hosts = body.get("hosts")
            gvars = body.get("vars")
            hosts = hosts if isinstance(hosts, Mapping) else {}
            gvars = gvars if isinstance(gvars, Mapping) else {}
            yield str(name), {str(ip): h if isinstance(h, Mapping) else {} for ip, h in hosts.items()}, dict(gvars)


def explicit(children: Mapping[str, Any], gvars: Mapping[str, Any], meta_groups: set[str]) -> dict[str, Setting]:
    """Each host's written ``node_os`` (a known release name) and where it comes from.

    Hosts that name none, at any level, are absent: their cluster's ``pg_version`` decides.
    """
    found: dict[str, Setting] = {}

    def take(ip: str, value: Any, path: str) -> None:
        if isinstance(value, str) and value in RELEASES:
            found.setdefault(ip, Setting(value, path))

    groups = list(_groups(children))
    for name, hosts, _ in groups:
        for ip, hvars in hosts.items():
            take(ip, hvars.get("node_os"), f"all.children.{name}.hosts.{ip}.node_os")
    for name, hosts, group_vars in groups:
        if "pg_cluster" in group_vars:
            for ip in hosts:
                take(ip, group_vars.get("node_os"), f"all.children.{name}.vars.node_os")
    for name, hosts, group_vars in groups:
        if name in meta_groups:
            for ip in hosts:
                take(ip, group_vars.get("node_os"), f"all.children.{name}.vars.node_os")
    for _, hosts, _ in groups:
        for ip in hosts:
            take(ip, gvars.get("node_os"), "all.vars.node_os")
    return found


def shipping(version: Any) -> Release | None:
    """The release that ships PostgreSQL ``version`` (the newest, if several do)."""
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    offering = [r for r in RELEASES.values() if version in r.pg_versions]
    return max(offering, key=lambda r: r.number) if offering else None


def cluster_release(members: list[str], settings: Mapping[str, Setting], version: Any) -> Release:
    """The release of a cluster with these member IPs: the first one named, else the one that
    ships ``version``, else the default. Validation reports members that disagree."""
    for ip in members:
        if ip in settings:
            return RELEASES[settings[ip].value]
    return shipping(version) or RELEASES[DEFAULT_RELEASE]


def offers() -> str:
    """What every release ships, for an error message."""
    return "; ".join(r.describe() for r in RELEASES.values())
