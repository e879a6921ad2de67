"""An inventory as the CMDB's rows, and back: the round trip ``pigsalt cmdb load`` / ``dump`` rests on.

The raw tables hold the inventory exactly as written (Pigsty's layout: ``all.vars``, the groups
of ``all.children`` with their ``vars`` and ``hosts``, each host's vars), in the file's order, so
that a dump is the same inventory: it validates and compiles to the same pillar. Values are
JSON; what YAML has and JSON lacks is tagged: a date or a timestamp as ``{"$yaml": "date",
"value": ISO text}``, a mapping with keys other than text (Pigsty's ``redis_instances: {6379:
…}``) as ``{"$yaml": "pairs", "value": [[key, value], …]}``. A part of a group or of ``all``
that is not ``vars``, ``hosts`` or ``children`` (e.g. Ansible's nested ``children`` in a group)
is kept whole in its row's ``extra``.

Whether a mapping was absent, empty or null (``vars:`` with nothing after it) is kept too: the
validator reads the three the same way, but a dump should not rewrite what the user wrote.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Rows", "decode", "encode", "from_raw", "to_raw"]

# How a mapping was written: absent, null (``key:`` alone) or a mapping.
ABSENT, NULL, MAP = "absent", "null", "map"


def encode(value: Any) -> Any:
    """``value`` as JSON: dates and timestamps tagged, everything else as it is (recursively)."""
    if isinstance(value, datetime.datetime):
        return {"$yaml": "timestamp", "value": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$yaml": "date", "value": value.isoformat()}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v) for k, v in value.items()}
        # Keys JSON would turn into text (Pigsty's redis_instances: {6379: ...}).
        return {"$yaml": "pairs", "value": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """``encode``'s inverse."""
    if isinstance(value, Mapping):
        if set(value) == {"$yaml", "value"} and value["$yaml"] == "date":
            return datetime.date.fromisoformat(value["value"])
        if set(value) == {"$yaml", "value"} and value["$yaml"] == "timestamp":
            return datetime.datetime.fromisoformat(value["value"])
        if set(value) == {"$yaml", "value"} and value["$yaml"] == "pairs":
            return {decode(k): decode(v) for k, v in value["value"]}
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


@dataclass(frozen=True)
class Group:
    name: str
    seq: int
    vars_form: str = MAP
    hosts_form: str = MAP
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Host:
    group: str
    ip: str
    seq: int
    vars_form: str = MAP


@dataclass(frozen=True)
class Var:
    """One variable: of ``all`` (group and host None), of a group, or of a host in a group."""

    key: str
    value: Any
    seq: int
    group: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Rows:
    """The raw tables: ``all``'s own forms and extra keys, the groups, the hosts, the variables."""

    vars_form: str = MAP
    children_form: str = MAP
    extra: Mapping[str, Any] = field(default_factory=dict)
    groups: tuple[Group, ...] = ()
    hosts: tuple[Host, ...] = ()
    variables: tuple[Var, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Plain JSON, as the CMDB stores and ``cmdb dump`` reads it back."""
        return {
            "all": {"vars_form": self.vars_form, "children_form": self.children_form, "extra": encode(self.extra)},
            "groups": [
                {"name": g.name, "seq": g.seq, "vars_form": g.vars_form, "hosts_form": g.hosts_form,
                 "extra": encode(g.extra)}
                for g in self.groups
            ],
            "hosts": [{"group": h.group, "ip": h.ip, "seq": h.seq, "vars_form": h.vars_form} for h in self.hosts],
            "variables": [
                {"group": v.group, "host": v.host, "key": v.key, "value": encode(v.value), "seq": v.seq}
                for v in self.variables
            ],
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rows:
        top = data["all"]
        return cls(
            vars_form=top["vars_form"],
            children_form=top["children_form"],
            extra=decode(top["extra"]),
            groups=tuple(
                Group(g["name"], g["seq"], g["vars_form"], g["hosts_form"], decode(g["extra"])) for g in data["groups"]
            ),
            hosts=tuple(Host(h["group"], h["ip"], h["seq"], h["vars_form"]) for h in data["hosts"]),
            variables=tuple(
                Var(v["key"], decode(v["value"]), v["seq"], v["group"], v["host"]) for v in data["variables"]
            ),
        )


def _form(parent: Mapping[str, Any], key: str) -> str:
    if key not in parent:
        return ABSENT
    return NULL if parent[key] is None else MAP


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: a mapping is expected, not {type(value).__name__}")
    return value


def from_raw(raw: Mapping[str, Any]) -> Rows:
    """The rows of a raw inventory (``{all: {vars, children}}``, as ``pigsalt.inventory.load`` reads it)."""
    top = _mapping(raw.get("all"), "all")
    extra = {k: v for k, v in top.items() if k not in ("vars", "children")}
    variables = [Var(str(k), v, n) for n, (k, v) in enumerate(_mapping(top.get("vars"), "all.vars").items())]
    groups, hosts = [], []
    for g_seq, (name, group) in enumerate(_mapping(top.get("children"), "all.children").items()):
        name = str(name)
        body = _mapping(group, f"all.children.{name}")
        groups.append(
            Group(
                name,
                g_seq,
                _form(body, "vars"),
                _form(body, "hosts"),
                {k: v for k, v in body.items() if k not in ("vars", "hosts")},
            )
        )
        where = f"all.children.{name}"
        for n, (k, v) in enumerate(_mapping(body.get("vars"), f"{where}.vars").items()):
            variables.append(Var(str(k), v, n, group=name))
        for h_seq, (ip, host) in enumerate(_mapping(body.get("hosts"), f"{where}.hosts").items()):
            ip = str(ip)
            host_vars = _mapping(host, f"{where}.hosts.{ip}")
            hosts.append(Host(name, ip, h_seq, NULL if host is None else MAP))
            for n, (k, v) in enumerate(host_vars.items()):
                variables.append(Var(str(k), v, n, group=name, host=ip))
    return Rows(_form(top, "vars"), _form(top, "children"), extra, tuple(groups), tuple(hosts), tuple(variables))


def _put(parent: dict[str, Any], key: str, form: str, value: dict[str, Any]) -> None:
    if form == MAP:
        parent[key] = value
    elif form == NULL:
        parent[key] = None


def to_raw(rows: Rows) -> dict[str, Any]:
    """The raw inventory the rows describe, in the order it was written."""

    def ordered(found: list[Var]) -> dict[str, Any]:
        return {v.key: v.value for v in sorted(found, key=lambda v: v.seq)}

    by_place: dict[tuple[str | None, str | None], list[Var]] = {}
    for v in rows.variables:
        by_place.setdefault((v.group, v.host), []).append(v)
    children: dict[str, Any] = {}
    for g in sorted(rows.groups, key=lambda g: g.seq):
        body: dict[str, Any] = {}
        host_map: dict[str, Any] = {}
        for h in sorted((h for h in rows.hosts if h.group == g.name), key=lambda h: h.seq):
            host_map[h.ip] = ordered(by_place.get((g.name, h.ip), [])) if h.vars_form == MAP else None
        _put(body, "hosts", g.hosts_form, host_map)
        _put(body, "vars", g.vars_form, ordered(by_place.get((g.name, None), [])))
        body.update(g.extra)
        children[g.name] = body
    top: dict[str, Any] = {}
    _put(top, "vars", rows.vars_form, ordered(by_place.get((None, None), [])))
    _put(top, "children", rows.children_form, children)
    top.update(rows.extra)
    return {"all": top}
