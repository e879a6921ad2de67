"""Validation of a raw inventory: pure, declarative, every problem at once with its dotted path.

Two passes over the same raw mapping. The structural pass checks each parameter against its
schema in ``params.PARAMS`` at the level where it is written; the semantic pass checks what
spans several values (one primary, unique seqs and IPs, port collisions, VIP subnet, roles).
The semantic pass only looks at values of the right type, so a malformed value is reported once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
import jmespath.exceptions

from pigsalt.debian import DEFAULT_RELEASE, RELEASES
from pigsalt.inventory import catalogue, node_os
from pigsalt.inventory.params import (
    CLUSTER,
    DEFAULT_ROLES,
    DURATION,
    GLOBAL,
    GROUP_KEYS,
    INSTANCE,
    PARAMS,
    PG_VERSIONS,
    PGBACKREST_REPO,
    PREDEFINED_ROLES,
    PREDEFINED_SINCE,
    RESERVED_PORTS,
    duration_seconds,
)
from pigsalt.inventory.pigsty import UNIMPLEMENTED, V1, V2, module_of, release, vip_settings
from pigsalt.inventory.schema import IPv4, Problem, did_you_mean, join

META_GROUPS = ("meta", "infra")
# Ports the meta node's infrastructure takes (nginx, dns, ntp, etcd, prometheus, alertmanager, grafana).
META_PORTS = {
    80: "nginx",
    53: "dnsmasq",
    123: "chrony",
    2379: "etcd",
    2380: "etcd peer",
    9090: "prometheus",
    9093: "alertmanager",
    3000: "grafana",
}
RESERVED_DATABASES = ("postgres", "template0", "template1")
# Database names that pg_hba.conf or Pgbouncer read as keywords (a rule for `all` would admit
# every database; `pgbouncer` is Pgbouncer's admin console).
KEYWORD_DATABASES = ("all", "replication", "sameuser", "samerole", "samegroup", "pgbouncer")
DEFAULT_SERVICE_PORTS = (5433, 5434, 5436, 5438)


@dataclass
class Report:
    """Errors and warnings of one validation; ``ok`` when there is no error."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return sorted({p for p in self.problems if not p.warning}, key=_order)

    @property
    def warnings(self) -> list[Problem]:
        return sorted({p for p in self.problems if p.warning}, key=_order)

    @property
    def ok(self) -> bool:
        return not self.errors


def _order(problem: Problem) -> tuple[str, str]:
    return (problem.path, problem.message)


# The message of an ignored parameter until ``_summarise_ignored`` folds them into one line per group.
_IGNORED = "\0ignored"
# Keys of a group that make it a Postgres cluster even when pg_cluster is missing.
PG_HOST_KEYS = ("pg_role", "pg_seq")
PG_GROUP_KEYS = ("pg_users", "pg_databases", "pg_services", "pg_hba_rules", "pg_default_services")
# In a Pigsty 2+ inventory these are the node module's keepalived VIP, not the Postgres VIP.
V2_NODE_VIP = frozenset({"vip_address", "vip_interface", "vip_cidrmask"})


def validate(raw: Any) -> Report:
    """Check a raw inventory (``{all: {vars, children}}``) and return every problem found."""
    report = Report()
    out = report.problems
    if not isinstance(raw, dict) or not isinstance(raw.get("all"), dict):
        out.append(Problem("all", "is required: an inventory is a mapping with a top-level 'all' key"))
        return report
    _validate(raw, out)
    _summarise_ignored(out)
    return report


def _summarise_ignored(out: list[Problem]) -> None:
    """One warning per group (or ``all.vars``) that lists the parameters pigsalt ignores there."""
    by_group: dict[str, set[str]] = {}
    for problem in out:
        if problem.message == _IGNORED:
            parts = problem.path.split(".")
            group = "all.vars" if parts[1] == "vars" else ".".join(parts[:3])
            by_group.setdefault(group, set()).add(parts[-1])
    out[:] = [p for p in out if p.message != _IGNORED]
    for group, names in by_group.items():
        text = ", ".join(sorted(names))
        count = f"{len(names)} parameter{'s' if len(names) > 1 else ''}"
        out.append(Problem(group, f"{count} pigsalt does not implement, ignored: {text}", warning=True))


def _validate(raw: dict[str, Any], out: list[Problem]) -> None:
    rel = release(raw)
    for key in raw:
        if key != "all":
            out.append(Problem(str(key), f"unknown top-level key{did_you_mean(str(key), ['all'])}"))
    top = raw["all"]
    for key in top:
        if key not in ("vars", "children", "hosts"):
            out.append(Problem(join("all", key), f"unknown key{did_you_mean(str(key), ['vars', 'children'])}"))
    if top.get("hosts"):
        out.append(Problem("all.hosts", "hosts belong to a group under all.children (meta or a cluster)"))
    gvars = _mapping(top.get("vars", {}), "all.vars", out)
    _check_vars(gvars, "all.vars", GLOBAL, out, rel.major)
    children = _mapping(top.get("children", {}), "all.children", out)
    groups = _groups(children, out, rel.major)
    _check_meta(groups, out)
    _check_etcd(groups, out)
    _check_clusters(groups, gvars, out, rel.major)
    _check_vips(groups, gvars, out, rel.major)
    _check_nodes(groups, out)
    _check_releases(children, groups, gvars, out)
    _check_upgrades(children, groups, gvars, out)
    _check_dcs(gvars, groups, out)
    _check_published_passwords(gvars, groups, out)
    _check_prometheus(gvars, out)
    _check_alertmanager(gvars, out)


def _check_alertmanager(gvars: Mapping[str, Any], out: list[Problem]) -> None:
    """E-mail needs a relay; the relay's settings mean nothing without a recipient."""
    if gvars.get("alertmanager_email_to") and not gvars.get("alertmanager_smtp_smarthost"):
        out.append(Problem("all.vars.alertmanager_smtp_smarthost", "is required with alertmanager_email_to"))
    if gvars.get("alertmanager_smtp_password") and not gvars.get("alertmanager_smtp_username"):
        out.append(Problem("all.vars.alertmanager_smtp_username", "is required with alertmanager_smtp_password"))


def _check_prometheus(gvars: Mapping[str, Any], out: list[Problem]) -> None:
    """Prometheus refuses to start with a scrape timeout longer than the scrape interval."""
    interval = gvars.get("prometheus_scrape_interval", PARAMS["prometheus_scrape_interval"].default)
    timeout = gvars.get("prometheus_scrape_timeout")
    duration = re.compile(DURATION)
    if not (isinstance(interval, str) and isinstance(timeout, str)):
        return  # unset: it follows the interval (params.scrape_timeout)
    if not (duration.fullmatch(interval) and duration.fullmatch(timeout)):
        return  # the parameter checks name a malformed value
    if duration_seconds(timeout) > duration_seconds(interval):
        out.append(
            Problem(
                "all.vars.prometheus_scrape_timeout",
                f"is {timeout}, longer than prometheus_scrape_interval ({interval}): Prometheus would not start",
            )
        )


# --- structure ----------------------------------------------------------------------------------


def _mapping(value: Any, path: str, out: list[Problem]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.append(Problem(path, f"must be a mapping, not {type(value).__name__}"))
        return {}
    return value


# Global parameters Pigsty also reads per host, where pigsalt has one value for the inventory.
PER_HOST_IGNORED = {
    "admin_ip": "ignored: pigsalt uses all.vars.admin_ip for every node (Pigsty 3.5+ sets it per infra node)",
}

# A name in one of the namespaces of the parameters pigsalt implements is held to a looser
# likeness: `pg_rto_seconds` is a mistake for `pg_rto`, not a user's own variable.
IMPLEMENTED_NAMESPACES = tuple(sorted({name.split("_")[0] + "_" for name in PARAMS if "_" in name}))


def _typo_hint(name: str) -> str:
    """`` (did you mean …)`` when ``name`` looks like a parameter pigsalt implements."""
    hint = did_you_mean(name, PARAMS)
    if not hint and name.startswith(IMPLEMENTED_NAMESPACES):
        hint = did_you_mean(name, PARAMS, cutoff=0.6)
    return hint


def _check_vars(values: Mapping[str, Any], path: str, level: str, out: list[Problem], rel: int = V1) -> None:
    """Check each parameter at ``level``: known, allowed there, well typed.

    Pigsty's parameters that pigsalt does not implement (any release's: ``catalogue``), Ansible's
    and other modules' are ignored (one warning per group, see ``_summarise_ignored``); another
    name close to a known one is a typo (error); a name far from all of them is the user's own
    variable (warning).
    """
    for name, value in values.items():
        sub = join(path, name)
        param = PARAMS.get(name)
        if param is not None and rel == V2 and name in V2_NODE_VIP:
            param = None
        if param is None:
            name = str(name)
            pigstys = name in UNIMPLEMENTED or catalogue.load().known(name)
            if name.startswith("ansible_") or pigstys or module_of(name) or name in V2_NODE_VIP:
                # A real Pigsty parameter of any release is never taken for a typo of ours.
                out.append(Problem(sub, _IGNORED, warning=True))
            elif hint := _typo_hint(name):
                out.append(Problem(sub, f"unknown parameter{hint}"))
            elif hint := did_you_mean(name, UNIMPLEMENTED):
                # Close to a Pigsty parameter pigsalt ignores anyway: a typo there changes nothing.
                out.append(Problem(sub, f"unknown parameter{hint}; ignored", warning=True))
            else:
                out.append(Problem(sub, "is neither a pigsalt nor a Pigsty parameter; ignored", warning=True))
            continue
        if level not in param.levels:
            if name in PER_HOST_IGNORED and level == INSTANCE:
                out.append(Problem(sub, PER_HOST_IGNORED[name], warning=True))
                continue
            where = " or ".join(param.levels)
            out.append(Problem(sub, f"cannot be set in {level}; set it in {where}"))
            continue
        param.node.check(value, sub, out)


@dataclass(frozen=True)
class _Group:
    """A group of all.children as found, with the types already checked."""

    name: str
    path: str
    hosts: dict[str, dict[str, Any]]
    vars: dict[str, Any]
    meta: bool
    hosts_given: bool
    kind: str = "cluster"  # cluster, meta, etcd, module (another Pigsty module), other

    @property
    def cluster(self) -> str | None:
        name = self.vars.get("pg_cluster")
        return name if isinstance(name, str) else None


def _sub(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def is_meta_group(name: str, body: Mapping[str, Any]) -> bool:
    """Pigsty v1's ``meta`` group (or any group with ``meta_node: true``), Pigsty 2+'s ``infra``."""
    gvars = _sub(body, "vars")
    return name in META_GROUPS or gvars.get("meta_node") is True


def is_etcd_group(name: str, body: Mapping[str, Any]) -> bool:
    """Pigsty 2+'s ``etcd`` group: the DCS members (``etcd_seq`` on hosts, ``etcd_cluster``)."""
    gvars, hosts = _sub(body, "vars"), _sub(body, "hosts")
    if "pg_cluster" in gvars:
        return False
    return (
        name == "etcd"
        or "etcd_cluster" in gvars
        or any(isinstance(h, dict) and "etcd_seq" in h for h in hosts.values())
    )


def module_groups(children: Mapping[str, Any]) -> set[str]:
    """Names of the groups of Pigsty's other modules: their hosts are not pigsalt's nodes."""
    found = set()
    for name, body in children.items():
        body = body if isinstance(body, dict) else {}
        gvars = _sub(body, "vars")
        hosts = {str(k): (v if isinstance(v, dict) else {}) for k, v in _sub(body, "hosts").items()}
        if _kind(str(name), body, hosts, gvars) == "module":
            found.add(str(name))
    return found


def _kind(name: str, body: Mapping[str, Any], hosts: Mapping[str, Mapping[str, Any]], gvars: Mapping[str, Any]) -> str:
    if is_meta_group(name, body):
        return "meta"
    if "pg_cluster" in gvars:
        return "cluster"
    if is_etcd_group(name, body):
        return "etcd"
    keys = [*gvars, *(k for h in hosts.values() for k in h)]
    if any(module_of(str(k)) for k in keys):
        return "module"
    return "other"


def _groups(children: Mapping[str, Any], out: list[Problem], rel: int = V1) -> list[_Group]:
    groups = []
    for name, body in children.items():
        path = join("all.children", name)
        body = _mapping(body, path, out)
        for key in body:
            if key not in GROUP_KEYS:
                out.append(Problem(join(path, key), f"unknown key{did_you_mean(str(key), GROUP_KEYS)}"))
        if body.get("children"):
            out.append(Problem(join(path, "children"), "nested groups are not supported"))
        hosts_raw = _mapping(body.get("hosts", {}), join(path, "hosts"), out)
        hosts: dict[str, dict[str, Any]] = {}
        for ip, hvars in hosts_raw.items():
            hpath = join(join(path, "hosts"), ip)
            _check_host_address(str(ip), hpath, out)
            hosts[str(ip)] = _mapping(hvars, hpath, out)
        gvars = _mapping(body.get("vars", {}), join(path, "vars"), out)
        kind = _kind(str(name), body, hosts, gvars)
        hosts_ok = isinstance(body.get("hosts", {}), dict) or body.get("hosts") is None
        group = _Group(str(name), path, hosts, gvars, kind == "meta", hosts_ok, kind)
        if kind == "module":
            keys = sorted({str(k) for k in [*gvars, *(k for h in hosts.values() for k in h)] if module_of(str(k))})
            module = module_of(keys[0])
            out.append(
                Problem(path, f"a group of Pigsty's {module} module: pigsalt does not deploy it; ignored", warning=True)
            )
        elif kind == "other":
            pg_keys = sorted(
                {k for h in hosts.values() for k in h if k in PG_HOST_KEYS} | {k for k in gvars if k in PG_GROUP_KEYS}
            )
            if pg_keys:
                out.append(
                    Problem(
                        join(path, "vars.pg_cluster"),
                        f"is required: the group has {', '.join(pg_keys)} but no pg_cluster "
                        f"(add pg_cluster: {name} to its vars)",
                    )
                )
            else:
                out.append(Problem(path, "has no vars.pg_cluster: not a Postgres cluster; ignored", warning=True))
        groups.append(group)
    return groups


def _check_host_address(ip: str, path: str, out: list[Problem]) -> None:
    found: list[Problem] = []
    IPv4().check(ip, path, found)
    out.extend(found)
    if found:
        return
    addr = ipaddress.IPv4Address(ip)
    if addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_link_local:
        out.append(Problem(path, f"{ip} cannot be a node's address (loopback, unspecified, multicast or link-local)"))


# --- semantics -----------------------------------------------------------------------------------


def _clusters(groups: Iterable[_Group]) -> Iterator[_Group]:
    return (g for g in groups if "pg_cluster" in g.vars)


def _check_meta(groups: list[_Group], out: list[Problem]) -> None:
    meta = [g for g in groups if g.meta]
    hosts = [ip for g in meta for ip in g.hosts]
    if not hosts:
        out.append(
            Problem(
                "all.children.meta",
                "is required: at least one meta node (hosts of group 'meta', or 'infra' as Pigsty 2+ names it)",
            )
        )
    elif len(hosts) > 5:
        out.append(Problem("all.children.meta.hosts", f"has {len(hosts)} meta nodes; at most 5 are supported"))
    for g in meta:
        if "pg_cluster" not in g.vars:
            for ip, hvars in g.hosts.items():
                for key in ("pg_seq", "pg_role"):
                    if key in hvars:
                        out.append(
                            Problem(
                                join(join(g.path, "hosts"), ip) + f".{key}",
                                "is set but the meta group has no vars.pg_cluster",
                            )
                        )


def _check_etcd(groups: list[_Group], out: list[Problem]) -> None:
    """Pigsty 2+'s etcd group: numbered members, each one a meta (infra) node, where pigsalt runs etcd."""
    meta_ips = {ip for g in groups if g.meta for ip in g.hosts}
    for g in groups:
        if g.kind != "etcd":
            continue
        seqs: dict[int, str] = {}
        for ip, hvars in g.hosts.items():
            hpath = join(join(g.path, "hosts"), ip)
            seq = hvars.get("etcd_seq")
            if seq is None:
                out.append(Problem(join(hpath, "etcd_seq"), "is required for every member of the etcd group"))
            elif isinstance(seq, int) and not isinstance(seq, bool):
                if seq in seqs:
                    out.append(Problem(join(hpath, "etcd_seq"), f"duplicate of {seqs[seq]} (etcd_seq {seq})"))
                seqs.setdefault(seq, join(hpath, "etcd_seq"))
            if ip not in meta_ips:
                out.append(
                    Problem(
                        hpath,
                        f"{ip} is not a meta (infra) node: pigsalt runs etcd on the meta nodes; "
                        "add it to the infra group or drop it from etcd",
                    )
                )


def _check_clusters(groups: list[_Group], gvars: Mapping[str, Any], out: list[Problem], rel: int = V1) -> None:
    names: dict[str, str] = {}
    meta_ips = {ip for g in groups if g.meta for ip in g.hosts}
    for g in groups:
        if g.kind == "module":
            continue
        if "pg_cluster" not in g.vars:
            for ip, hvars in g.hosts.items():
                _check_vars(
                    {k: v for k, v in hvars.items() if k not in ("pg_seq", "pg_role")},
                    join(join(g.path, "hosts"), ip),
                    INSTANCE,
                    out,
                    rel,
                )
            _check_vars(g.vars, join(g.path, "vars"), CLUSTER, out, rel)
            continue
        _check_vars(g.vars, join(g.path, "vars"), CLUSTER, out, rel)
        name = g.cluster
        if name is not None:
            if not g.meta and name != g.name:
                out.append(
                    Problem(
                        join(g.path, "vars.pg_cluster"),
                        f"{name!r} differs from the group name {g.name!r}; use the same name",
                    )
                )
            if name in names:
                out.append(Problem(join(g.path, "vars.pg_cluster"), f"duplicate of cluster {name!r} in {names[name]}"))
            names.setdefault(name, g.path)
        if g.hosts_given and not g.hosts:
            out.append(Problem(join(g.path, "hosts"), "a cluster needs at least one host"))
        _check_instances(g, out, rel)
        effective = {**gvars, **g.vars}
        users = _check_users(g, effective, out)
        _check_databases(g, effective, users, out)
        _check_services(g, gvars, bool(meta_ips & set(g.hosts)), out, rel)
        _check_hba(g, gvars, out)
        _check_rpo(g, effective, out)
        _check_backup(g, gvars, out)
        _check_listen(g, gvars, out)


def _written_at(g: _Group, name: str) -> str:
    """Where a cluster-level parameter's value comes from: the group's vars, else all.vars."""
    return join(join(g.path, "vars") if name in g.vars else "all.vars", name)


def _check_listen(g: _Group, gvars: Mapping[str, Any], out: list[Problem]) -> None:
    """``${vip}`` in pg_listen is dropped (pigsalt.pillar.compile.listen): say so once."""
    value = _effective("pg_listen", g, gvars)
    if isinstance(value, str) and "${vip}" in value:
        out.append(
            Problem(
                _written_at(g, "pg_listen"),
                "${vip}: dropped, Postgres binds no address its member does not hold (the VIP's clients use "
                "the services on 5433-5438, or pg_listen: 0.0.0.0 takes the VIP whenever it arrives)",
                warning=True,
            )
        )


def _check_backup(g: _Group, gvars: Mapping[str, Any], out: list[Problem]) -> None:
    """The repository ``pgbackrest_method`` names: present, and one pigsalt can keep (others warn)."""
    if not _effective("pgbackrest_enabled", g, gvars):
        return
    method = _effective("pgbackrest_method", g, gvars)
    repos = _effective("pgbackrest_repo", g, gvars)
    if not isinstance(method, str) or not isinstance(repos, Mapping):
        return  # the parameters' own types are reported already

    if method not in repos:
        known = ", ".join(map(str, repos)) or "none"
        out.append(
            Problem(_written_at(g, "pgbackrest_method"), f"{method!r} is not a repository of pgbackrest_repo ({known})")
        )
        return
    path = join(_written_at(g, "pgbackrest_repo"), method)
    repo = repos[method]
    kind = repo.get("type", "posix") if isinstance(repo, Mapping) else None
    if kind is not None and kind != "posix":
        out.append(
            Problem(
                join(path, "type"),
                f"{kind}: pigsalt deploys no object store; this cluster's backups go to the meta node's "
                "repository instead (its other keys are ignored)",
                warning=True,
            )
        )
        return
    PGBACKREST_REPO.check(repo, path, out)


def _check_rpo(g: _Group, effective: Mapping[str, Any], out: list[Problem]) -> None:
    """RPO 0 is strict synchronous mode: without a replica the primary could never commit."""
    if effective.get("pg_rpo") != 0:
        return
    replicas = [h for h in g.hosts.values() if isinstance(h, Mapping) and h.get("pg_role") == "replica"]
    if not replicas and g.hosts:
        path = join(join(g.path, "vars"), "pg_rpo") if "pg_rpo" in g.vars else "all.vars.pg_rpo"
        out.append(Problem(path, f"0 (strict synchronous mode) needs a pg_role: replica in {g.name}; it has none"))


def _check_releases(
    children: Mapping[str, Any], groups: list[_Group], gvars: Mapping[str, Any], out: list[Problem]
) -> None:
    """One Debian release per node and per cluster, and a PostgreSQL that release ships."""
    settings = node_os.explicit(children, gvars, {g.name for g in groups if g.meta})
    written: dict[str, tuple[str, str]] = {}
    for g in groups:
        for ip, hvars in g.hosts.items():
            value = hvars.get("node_os")
            if isinstance(value, str) and value in PG_VERSIONS:
                path = join(join(g.path, "hosts"), ip) + ".node_os"
                first = written.setdefault(ip, (value, path))
                if first[0] != value:
                    out.append(Problem(path, f"{value} contradicts {first[0]} at {first[1]}: a node runs one release"))
    for g in groups:
        if g.kind != "cluster" and not (g.meta and g.cluster):
            continue
        named = {ip: settings[ip] for ip in g.hosts if ip in settings}
        if len({s.value for s in named.values()}) > 1:
            found = ", ".join(f"{s.value} on {ip}" for ip, s in named.items())
            out.append(
                Problem(
                    join(g.path, "hosts"),
                    f"members run different Debian releases ({found}); a cluster's members share one",
                )
            )
            continue
        version = g.vars.get("pg_version", gvars.get("pg_version"))
        if not isinstance(version, int) or isinstance(version, bool):
            continue
        where = join(g.path, "vars.pg_version") if "pg_version" in g.vars else "all.vars.pg_version"
        if named:
            setting = next(iter(named.values()))
            rel = RELEASES[setting.value]
            if version not in rel.pg_versions:
                out.append(
                    Problem(
                        where,
                        f"PostgreSQL {version} is not shipped by {rel.name} (node_os at {setting.path}): "
                        + node_os.offers(),
                    )
                )
        elif node_os.shipping(version) is None:
            out.append(
                Problem(
                    where,
                    f"PostgreSQL {version} is not shipped by a Debian release pigsalt deploys: {node_os.offers()}",
                )
            )


def _cluster_major(g: _Group, gvars: Mapping[str, Any], settings: Mapping[str, node_os.Setting]) -> int:
    """The PostgreSQL major the model gives the cluster: its pg_version, else its release's default.

    Unlike ``_major`` this reads node_os where the members have it, on hosts included.
    """
    version = g.vars.get("pg_version", gvars.get("pg_version"))
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    return node_os.cluster_release(list(g.hosts), settings, None).pg_default


def _check_upgrades(
    children: Mapping[str, Any], groups: list[_Group], gvars: Mapping[str, Any], out: list[Problem]
) -> None:
    """pg_upgrade_from names another cluster, on an earlier major, with no other successor and no
    source of its own; the source's wal_level, if written, is logical."""
    clusters: dict[str, _Group] = {}
    for g in _clusters(groups):
        if g.cluster is not None:
            clusters.setdefault(g.cluster, g)
    settings = node_os.explicit(children, gvars, {g.name for g in groups if g.meta})
    successors: dict[str, str] = {}
    for g in _clusters(groups):
        wanted = g.vars.get("pg_upgrade_from")
        malformed: list[Problem] = []
        PARAMS["pg_upgrade_from"].node.check(wanted, "", malformed)
        if wanted is None or malformed or g.cluster is None:
            continue  # a malformed name is reported by the structural pass
        path = join(g.path, "vars.pg_upgrade_from")
        source = clusters.get(wanted)
        if wanted == g.cluster:
            out.append(Problem(path, f"{wanted!r} is this cluster itself: name the cluster it upgrades from"))
            continue
        if source is None:
            others = sorted(set(clusters) - {g.cluster})
            names = ", ".join(others) or "none"
            hint = did_you_mean(wanted, others)
            out.append(Problem(path, f"{wanted!r} names no cluster of the inventory (clusters: {names}){hint}"))
            continue
        first = successors.setdefault(wanted, g.cluster)
        if first != g.cluster:
            out.append(
                Problem(
                    path, f"{wanted} already has a successor, {first}: a cluster is upgraded to one successor at a time"
                )
            )
        before = source.vars.get("pg_upgrade_from")
        if isinstance(before, str):
            out.append(
                Problem(
                    path, f"{wanted} is itself the successor of {before}: upgrades do not chain; finish that one first"
                )
            )
        new, old = _cluster_major(g, gvars, settings), _cluster_major(source, gvars, settings)
        if new <= old:
            out.append(
                Problem(
                    path, f"{g.cluster} runs PostgreSQL {new} and {wanted} runs {old}: a successor runs a later major"
                )
            )
        in_source = "pg_parameters" in source.vars
        parameters = source.vars["pg_parameters"] if in_source else gvars.get("pg_parameters")
        wal_level = parameters.get("wal_level") if isinstance(parameters, dict) else None
        if wal_level is not None and str(wal_level).lower() != "logical":
            where = (
                join(source.path, "vars.pg_parameters.wal_level") if in_source else "all.vars.pg_parameters.wal_level"
            )
            out.append(
                Problem(
                    where,
                    f"must be logical, not {wal_level!r}: {g.cluster} upgrades from {wanted} by logical "
                    "replication (pg_upgrade_from)",
                )
            )


def _check_instances(g: _Group, out: list[Problem], rel: int = V1) -> None:
    seqs: dict[int, str] = {}
    primaries = []
    for ip, hvars in g.hosts.items():
        hpath = join(join(g.path, "hosts"), ip)
        _check_vars(hvars, hpath, INSTANCE, out, rel)
        for key in ("pg_seq", "pg_role"):
            if key not in hvars:
                out.append(Problem(join(hpath, key), "is required for every host of a cluster"))
        seq = hvars.get("pg_seq")
        if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
            if seq in seqs:
                out.append(Problem(join(hpath, "pg_seq"), f"duplicate of {seqs[seq]} (pg_seq {seq})"))
            seqs.setdefault(seq, join(hpath, "pg_seq"))
        if hvars.get("pg_role") == "primary":
            primaries.append(ip)
    roles_ok = all(hvars.get("pg_role") in ("primary", "replica", "offline") for hvars in g.hosts.values())
    if g.hosts and roles_ok and len(primaries) != 1:
        found = f"found {len(primaries)}" + (f": {', '.join(primaries)}" if primaries else "")
        out.append(Problem(join(g.path, "hosts"), f"needs exactly one pg_role: primary ({found})"))


def _system_users(effective: Mapping[str, Any]) -> dict[str, str]:
    names = {}
    for param in ("pg_admin_username", "pg_monitor_username", "pg_replication_username", "pg_dbsu"):
        value = effective.get(param, PARAMS[param].default)
        if isinstance(value, str):
            names[value] = param
    return names


def _check_system_names(g: _Group, effective: Mapping[str, Any], out: list[Problem]) -> None:
    """The dbsu and the three system users are four distinct roles with usable names: pgsql.users
    gives each its own attributes (a superuser admin, a replication-only replicator)."""
    seen: dict[str, str] = {}
    for param in ("pg_dbsu", "pg_admin_username", "pg_monitor_username", "pg_replication_username"):
        value = effective.get(param, PARAMS[param].default)
        if not isinstance(value, str):
            continue
        path = join(join(g.path, "vars"), param) if param in g.vars else join("all.vars", param)
        if value.lower() in RESERVED_ROLE_NAMES or value.startswith("pg_"):
            out.append(Problem(path, f"{value!r} is a reserved role name"))
        elif value in seen:
            out.append(Problem(path, f"{value!r} is also {seen[value]}; the system users need distinct names"))
        seen.setdefault(value, param)


# Names Postgres refuses for a role (public, none, the current_* keywords), or that mean
# something else in pg_hba.conf and Pgbouncer's auth file (all, samerole, samegroup, replication).
RESERVED_ROLE_NAMES = frozenset(
    {"public", "none", "all", "current_user", "current_role", "session_user", "samerole", "samegroup", "replication"}
)


# Passwords printed in Pigsty's and pigsalt's documentation and example inventories: anyone can
# try them. `validate` warns; `pigsalt deploy` refuses them outside the sandbox.
PUBLISHED_PASSWORDS = frozenset(
    {
        "DBUser.DBA",
        "DBUser.Monitor",
        "DBUser.Replicator",
        "DBUser.Meta",
        "DBUser.Viewer",
        "Patroni.API",
        "pigsty",
        "test",
        "postgres",
        "password",
    }
)


def published_passwords(gvars: Mapping[str, Any], groups: Iterable[Any]) -> list[str]:
    """Paths of every password parameter or user password that is a published default."""
    found: list[str] = []

    def scan(values: Any, path: str) -> None:
        if not isinstance(values, Mapping):
            return
        for key, value in values.items():
            if isinstance(key, str) and key.endswith("_password") and str(value) in PUBLISHED_PASSWORDS:
                found.append(join(path, key))
        users = values.get("pg_users")
        for i, user in enumerate(users if isinstance(users, list) else []):
            if isinstance(user, Mapping) and str(user.get("password")) in PUBLISHED_PASSWORDS:
                found.append(f"{join(path, 'pg_users')}[{i}].password")

    scan(gvars, "all.vars")
    for g in groups:
        scan(g.vars, join(g.path, "vars"))
    return found


PUBLISHED_MESSAGE = "is a published default password: set your own (pigsalt deploy refuses it)"


def _check_published_passwords(gvars: Mapping[str, Any], groups: Iterable[Any], out: list[Problem]) -> None:
    out.extend(Problem(path, PUBLISHED_MESSAGE, warning=True) for path in published_passwords(gvars, groups))


def _check_users(g: _Group, effective: Mapping[str, Any], out: list[Problem]) -> set[str]:
    """Duplicate, reserved and undefined-role checks; returns the names of the users defined."""
    users = effective.get("pg_users", [])
    if not isinstance(users, list):
        return set()
    where = join(g.path, "vars.pg_users") if "pg_users" in g.vars else "all.vars.pg_users"
    system = _system_users(effective)
    _check_system_names(g, effective, out)
    names: dict[str, int] = {}
    for i, user in enumerate(users):
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, str):
            continue
        path = f"{where}[{i}].name"
        if name in names:
            out.append(Problem(path, f"duplicate of {where}[{names[name]}] ({name!r})"))
        elif name in system:
            out.append(Problem(path, f"{name!r} is a system user ({system[name]}); it is managed by pigsalt"))
        elif name.startswith("pg_") or name in DEFAULT_ROLES or name.lower() in RESERVED_ROLE_NAMES:
            out.append(Problem(path, f"{name!r} is a reserved role name"))
        names.setdefault(name, i)
    version = _major(effective)
    later = {role for role, since in PREDEFINED_SINCE.items() if version is None or version >= since}
    known = set(names) | set(system) | set(DEFAULT_ROLES) | set(PREDEFINED_ROLES) | later
    for i, user in enumerate(users):
        roles = user.get("roles") if isinstance(user, dict) else None
        if not isinstance(roles, list):
            continue
        for j, role in enumerate(roles):
            if isinstance(role, str) and role in PREDEFINED_SINCE and role not in later:
                out.append(
                    Problem(
                        f"{where}[{i}].roles[{j}]",
                        f"role {role!r} exists in PostgreSQL {PREDEFINED_SINCE[role]} and later; "
                        f"the cluster runs {version}",
                    )
                )
            elif isinstance(role, str) and role not in known:
                hint = did_you_mean(role, known)
                out.append(
                    Problem(
                        f"{where}[{i}].roles[{j}]",
                        f"role {role!r} is neither defined in pg_users nor a default role{hint}",
                    )
                )
    _check_membership_cycles(users, where, set(names), out)
    return set(names) | set(system)


def _major(effective: Mapping[str, Any]) -> int | None:
    """The cluster's PostgreSQL major as far as its vars tell (host-level node_os aside)."""
    version = effective.get("pg_version")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    name = effective.get("node_os")
    return (
        RELEASES[name].pg_default
        if isinstance(name, str) and name in RELEASES
        else RELEASES[DEFAULT_RELEASE].pg_default
    )


def _check_membership_cycles(users: list[Any], where: str, defined: set[str], out: list[Problem]) -> None:
    """A user may not be a member of itself, directly or through other users."""
    edges: dict[str, list[str]] = {}
    index: dict[str, int] = {}
    for i, user in enumerate(users):
        if isinstance(user, dict) and isinstance(user.get("name"), str) and isinstance(user.get("roles"), list):
            edges[user["name"]] = [r for r in user["roles"] if isinstance(r, str) and r in defined]
            index.setdefault(user["name"], i)

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for role in edges.get(start, []):
            if role == target or (role not in seen and reaches(role, target, seen | {role})):
                return True
        return False

    for name, i in index.items():
        if name in edges.get(name, []):
            out.append(Problem(f"{where}[{i}].roles", f"{name!r} cannot be a member of itself"))
        elif reaches(name, name, {name}):
            out.append(Problem(f"{where}[{i}].roles", f"circular role membership through {name!r}"))


def _check_databases(g: _Group, effective: Mapping[str, Any], users: set[str], out: list[Problem]) -> None:
    dbs = effective.get("pg_databases", [])
    if not isinstance(dbs, list):
        return
    where = join(g.path, "vars.pg_databases") if "pg_databases" in g.vars else "all.vars.pg_databases"
    names: dict[str, int] = {}
    for i, db in enumerate(dbs):
        if not isinstance(db, dict):
            continue
        name = db.get("name")
        if isinstance(name, str):
            if name in names:
                out.append(Problem(f"{where}[{i}].name", f"duplicate of {where}[{names[name]}] ({name!r})"))
            elif name in RESERVED_DATABASES:
                out.append(Problem(f"{where}[{i}].name", f"{name!r} is a reserved database name"))
            elif name in KEYWORD_DATABASES:
                out.append(
                    Problem(
                        f"{where}[{i}].name",
                        f"{name!r} is a keyword of pg_hba.conf or Pgbouncer, where it would mean something "
                        "else: choose another name",
                    )
                )
            names.setdefault(name, i)
        owner = db.get("owner")
        if isinstance(owner, str) and owner not in users and owner not in DEFAULT_ROLES:
            out.append(
                Problem(
                    f"{where}[{i}].owner", f"owner {owner!r} is not defined in pg_users{did_you_mean(owner, users)}"
                )
            )
    for i, db in enumerate(dbs):
        template = db.get("template") if isinstance(db, dict) else None
        if isinstance(template, str) and template == db.get("name"):
            out.append(Problem(f"{where}[{i}].template", f"database {template!r} cannot be its own template"))
        elif isinstance(template, str) and template not in names and template not in ("template0", "template1"):
            out.append(Problem(f"{where}[{i}].template", f"template database {template!r} is not defined"))


def _service_port(svc: Mapping[str, Any]) -> Any:
    return svc.get("port", svc.get("src_port"))


def _effective(name: str, g: _Group, gvars: Mapping[str, Any]) -> Any:
    """A cluster-level parameter's value if it has the right type, else its default."""
    value = g.vars.get(name, gvars.get(name, PARAMS[name].default))
    found: list[Problem] = []
    PARAMS[name].node.check(value, "", found)
    return PARAMS[name].default if found else value


def _reserved_ports(g: _Group, gvars: Mapping[str, Any], on_meta: bool) -> dict[int, str]:
    ports = {p: n for p, n in RESERVED_PORTS.items() if n != "patroni"}
    patroni = _effective("patroni_port", g, gvars)
    if RESERVED_PORTS.get(patroni, "patroni") == "patroni" and patroni not in DEFAULT_SERVICE_PORTS:
        # Otherwise the clash is reported once, on patroni_port.
        ports[patroni] = "patroni"
    if on_meta:
        meta = {p: f"{n} on the meta node" for p, n in META_PORTS.items() if n != "nginx"}
        meta[gvars.get("repo_port", 80) if isinstance(gvars.get("repo_port"), int) else 80] = "nginx on the meta node"
        ports.update(meta)
    return ports


def service_params(rel: int) -> tuple[str, tuple[str, ...]]:
    """The parameter that holds a release's base services, and those that add to them."""
    if rel == V1:
        return "pg_services", ("pg_services_extra",)
    return "pg_default_services", ("pg_services", "pg_services_extra")


def _check_services(g: _Group, gvars: Mapping[str, Any], on_meta: bool, out: list[Problem], rel: int = V1) -> None:
    services: list[tuple[str, Mapping[str, Any]]] = []
    base_param, extra_params = service_params(rel)
    base = g.vars.get(base_param, gvars.get(base_param))
    base_where = join(g.path, f"vars.{base_param}") if base_param in g.vars else f"all.vars.{base_param}"
    if base is None:
        ports = dict(zip(("primary", "replica", "default", "offline"), DEFAULT_SERVICE_PORTS, strict=True))
        services += [(f"(default service {n})", {"name": n, "port": p}) for n, p in ports.items()]
    elif isinstance(base, list):
        services += [(f"{base_where}[{i}]", s) for i, s in enumerate(base) if isinstance(s, dict)]
    for param in extra_params:
        extra = g.vars.get(param, gvars.get(param, []))
        extra_where = join(g.path, f"vars.{param}") if param in g.vars else f"all.vars.{param}"
        if isinstance(extra, list):
            services += [(f"{extra_where}[{i}]", s) for i, s in enumerate(extra) if isinstance(s, dict)]
    reserved = _reserved_ports(g, gvars, on_meta)
    patroni = _effective("patroni_port", g, gvars)
    if (patroni in RESERVED_PORTS and RESERVED_PORTS[patroni] != "patroni") or patroni in DEFAULT_SERVICE_PORTS:
        where = join(g.path, "vars.patroni_port") if "patroni_port" in g.vars else "all.vars.patroni_port"
        taken_by = RESERVED_PORTS.get(patroni, "a default service")
        out.append(Problem(where, f"port {patroni} is taken by {taken_by}"))
    taken: dict[int, str] = {}
    names: dict[str, str] = {}
    for where, svc in services:
        name = svc.get("name")
        if isinstance(name, str):
            if name in names:
                out.append(Problem(f"{where}.name", f"duplicate service name {name!r} (also {names[name]})"))
            names.setdefault(name, where)
        for key in ("selector", "backup", "selector_backup"):
            expr = svc.get(key)
            if isinstance(expr, str):
                try:
                    jmespath.compile(expr)
                except jmespath.exceptions.JMESPathError as err:
                    out.append(Problem(f"{where}.{key}", f"invalid JMESPath expression: {str(err).splitlines()[0]}"))
        port = _service_port(svc)
        if port is None:
            if not where.startswith("("):
                out.append(Problem(f"{where}.port", "is required"))
            continue
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        port_path = f"{where}.{'port' if 'port' in svc else 'src_port'}"
        if port in reserved:
            out.append(Problem(port_path, f"port {port} is taken by {reserved[port]}"))
        elif port in taken:
            out.append(Problem(port_path, f"port {port} collides with {taken[port]}"))
        taken.setdefault(port, where)


def _check_vips(groups: list[_Group], gvars: Mapping[str, Any], out: list[Problem], rel: int = V1) -> None:
    """Each VIP: an address when switched on, inside its members' subnet, no node's address, used once
    (but by a cluster and its successor, until the cutover hands it over)."""
    node_ips = {ip for g in groups for ip in g.hosts}
    vips: dict[str, _Group] = {}
    for g in _clusters(groups):

        def get(name: str, g: _Group = g) -> Any:
            return g.vars.get(name, gvars.get(name))

        def where(name: str, g: _Group = g) -> str:
            return f"all.vars.{name}" if name in gvars and name not in g.vars else join(g.path, f"vars.{name}")

        if get("vip_mode") == "l4":
            out.append(Problem(where("vip_mode"), "l4 (an L4 VIP) is not implemented: no VIP is bound", warning=True))
        vip = vip_settings(get)
        if vip is None:
            if rel == V1 and "vip_address" in g.vars:
                out.append(
                    Problem(where("vip_address"), "is set but vip_mode is not l2: no VIP will be bound", warning=True)
                )
            if "pg_vip_address" in g.vars:
                out.append(
                    Problem(
                        where("pg_vip_address"),
                        "is set but pg_vip_enabled is not true: no VIP will be bound",
                        warning=True,
                    )
                )
            continue
        path = where(vip.address_param)
        if vip.address is None:
            switch = "pg_vip_enabled: true" if vip.address_param == "pg_vip_address" else "vip_mode: l2"
            out.append(Problem(path, f"is required with {switch}"))
            continue
        address, mask = vip.address, vip.cidrmask
        if not 1 <= mask <= 32:
            continue
        try:
            net = ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
            ip_vip = ipaddress.IPv4Address(address)
        except ValueError:
            if vip.address_param == "pg_vip_address":
                out.append(Problem(path, f"{address}/{mask} is not an IPv4 address with a prefix length"))
            continue
        first = vips.setdefault(address, g)
        if first is not g and not _upgrade_pair(first, g):
            out.append(Problem(path, f"{address} is already the VIP of {first.cluster or first.name}"))
        if address in node_ips:
            out.append(Problem(path, f"{address} is the address of node {address}"))
        if mask <= 30 and ip_vip in (net.network_address, net.broadcast_address):
            out.append(Problem(path, f"{address} is the network or broadcast address of {net}"))
        for ip in g.hosts:
            try:
                member = ipaddress.IPv4Address(ip)
            except ValueError:
                continue
            if member not in net:
                out.append(
                    Problem(
                        path, f"{address}/{mask} does not contain member {ip}: the VIP must be in its members' subnet"
                    )
                )


def _upgrade_pair(a: _Group, b: _Group) -> bool:
    """Whether one of the clusters is the other's successor: they share the VIP until the cutover."""
    return (a.cluster is not None and b.vars.get("pg_upgrade_from") == a.cluster) or (
        b.cluster is not None and a.vars.get("pg_upgrade_from") == b.cluster
    )


HBA_METHODS = frozenset("trust reject scram-sha-256 md5 password gss sspi ident peer ldap radius cert pam bsd".split())


def _check_hba_line(line: str, path: str, out: list[Problem]) -> None:
    """A raw pg_hba.conf line: enough fields, a known method, no trust or peer over the network."""
    words = line.split()
    local = words[0] == "local"
    need = 4 if local else 5
    if len(words) < need:
        out.append(
            Problem(
                path,
                f"needs at least {need} fields: {'local DB USER METHOD' if local else 'TYPE DB USER ADDRESS METHOD'}",
            )
        )
        return
    method_at = 3
    if not local:
        address = words[3]
        method_at = 4
        if "/" in address:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                out.append(Problem(path, f"{address!r} is not a CIDR network"))
        elif len(words) > 5 and re.fullmatch(r"[0-9.]+", words[4]):
            method_at = 5  # address and netmask as two fields
    method = words[method_at] if method_at < len(words) else ""
    if method not in HBA_METHODS:
        out.append(Problem(path, f"unknown authentication method {method!r}{did_you_mean(method, HBA_METHODS)}"))
    elif not local and method == "trust":
        out.append(Problem(path, "trust over the network is refused"))
    elif not local and method == "peer":
        out.append(Problem(path, "peer works only on local lines"))


HBA_PARAMS = (
    "pg_default_hba_rules",
    "pg_hba_rules",
    "pg_hba_rules_extra",
    "pgb_default_hba_rules",
    "pgb_hba_rules",
    "pgbouncer_hba_rules",
    "pgbouncer_hba_rules_extra",
)


def _check_hba(g: _Group, gvars: Mapping[str, Any], out: list[Problem]) -> None:
    for param in HBA_PARAMS:
        rules = g.vars.get(param, gvars.get(param))
        where = join(g.path, f"vars.{param}") if param in g.vars else f"all.vars.{param}"
        if not isinstance(rules, list):
            continue
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            if isinstance(rule.get("rules"), list):
                for j, line in enumerate(rule["rules"]):
                    if isinstance(line, str) and line.split():
                        _check_hba_line(line, f"{where}[{i}].rules[{j}]", out)
                continue
            auth, addr = rule.get("auth"), rule.get("addr")
            if auth == "trust" and addr != "local":
                out.append(Problem(f"{where}[{i}].auth", "trust is allowed only with addr: local"))
            if auth in ("peer", "ident", "os") and addr != "local":
                out.append(Problem(f"{where}[{i}].auth", f"{auth} works only with addr: local"))
            if isinstance(addr, str) and "/" in addr:
                try:
                    ipaddress.ip_network(addr, strict=False)
                except ValueError:
                    out.append(Problem(f"{where}[{i}].addr", f"{addr!r} is not a CIDR network"))


def _check_nodes(groups: list[_Group], out: list[Problem]) -> None:
    owner: dict[str, str] = {}
    names: dict[str, str] = {}
    for g in _clusters(groups):
        for ip in g.hosts:
            hpath = join(join(g.path, "hosts"), ip)
            if ip in owner:
                out.append(Problem(hpath, f"{ip} is already in cluster {owner[ip]}; one Postgres instance per node"))
            owner.setdefault(ip, g.cluster or g.name)
    for g in groups:
        for ip, hvars in g.hosts.items():
            name = hvars.get("nodename")
            if isinstance(name, str):
                hpath = join(join(join(g.path, "hosts"), ip), "nodename")
                if name in names and names[name] != ip:
                    out.append(Problem(hpath, f"{name!r} is already the name of node {names[name]}"))
                names.setdefault(name, ip)


def _check_dcs(gvars: Mapping[str, Any], groups: list[_Group], out: list[Problem]) -> None:
    if gvars.get("dcs_type") == "consul":
        out.append(
            Problem(
                "all.vars.dcs_type",
                "consul is not available (no Consul package for Debian): etcd on the meta node(s) is used instead",
                warning=True,
            )
        )
    servers = gvars.get("dcs_servers")
    meta_ips = {ip for g in groups if g.meta for ip in g.hosts}
    if not isinstance(servers, dict):
        return
    seen: dict[str, str] = {}
    for name, ip in servers.items():
        found: list[Problem] = []
        IPv4().check(ip, "", found)
        if found:
            continue
        if ip in seen:
            out.append(Problem(f"all.vars.dcs_servers.{name}", f"{ip} is already member {seen[ip]}"))
        elif ip not in meta_ips:
            out.append(Problem(f"all.vars.dcs_servers.{name}", f"{ip} is not a meta node"))
        seen.setdefault(ip, str(name))
    if servers and len(servers) % 2 == 0:
        out.append(Problem("all.vars.dcs_servers", f"{len(servers)} members: use an odd number", warning=True))
