"""The CMDB in SQL: the schema, the script that loads an inventory, and the query that dumps it.

Schema ``pigsty`` in pg-meta's CMDB database. Two kinds of tables:

- the **raw tables** (``inventory``, ``grp``, ``host``, ``var``): the inventory exactly as
  written (``pigsalt.cmdb.rows``), from which ``dump`` rebuilds it;
- the **derived tables** (``node``, ``cluster``, ``instance``, ``service``, ``pg_user``,
  ``pg_database``, ``hba_rule``), what the validated model says, for people and programs that
  query the fleet. They hold no password (a user's ``password`` is left out of its ``spec``).

``registration`` records what registered a node or an instance, and when (the reactor writes it;
a load leaves it alone). A load is one transaction that replaces the raw and derived tables:
a failed load changes nothing. The schema is closed to PUBLIC: the raw tables hold the
inventory's passwords.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pigsalt.agent.quoting import ident, literal
from pigsalt.cmdb.rows import Rows, encode
from pigsalt.inventory.model import Inventory

__all__ = ["DUMP_QUERY", "SCHEMA", "load_script"]

SCHEMA = """\
CREATE SCHEMA IF NOT EXISTS pigsty;
REVOKE ALL ON SCHEMA pigsty FROM PUBLIC;
CREATE TABLE IF NOT EXISTS pigsty.inventory (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    vars_form text NOT NULL,
    children_form text NOT NULL,
    extra jsonb NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS pigsty.grp (
    name text PRIMARY KEY,
    seq integer NOT NULL,
    vars_form text NOT NULL,
    hosts_form text NOT NULL,
    extra jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS pigsty.host (
    grp text NOT NULL REFERENCES pigsty.grp (name) ON DELETE CASCADE,
    ip text NOT NULL,
    seq integer NOT NULL,
    vars_form text NOT NULL,
    PRIMARY KEY (grp, ip)
);
CREATE TABLE IF NOT EXISTS pigsty.var (
    grp text REFERENCES pigsty.grp (name) ON DELETE CASCADE,
    host text,
    key text NOT NULL,
    value jsonb,
    seq integer NOT NULL,
    UNIQUE NULLS NOT DISTINCT (grp, host, key)
);
CREATE TABLE IF NOT EXISTS pigsty.node (
    name text PRIMARY KEY, ip inet NOT NULL UNIQUE, meta boolean NOT NULL, os text NOT NULL, cluster text
);
CREATE TABLE IF NOT EXISTS pigsty.cluster (
    name text PRIMARY KEY, primary_ins text NOT NULL, vip inet, version integer
);
CREATE TABLE IF NOT EXISTS pigsty.instance (
    ins text PRIMARY KEY, cls text NOT NULL, seq integer NOT NULL, role text NOT NULL, ip inet NOT NULL,
    node text NOT NULL
);
CREATE TABLE IF NOT EXISTS pigsty.service (
    cls text NOT NULL, name text NOT NULL, port integer NOT NULL, spec jsonb NOT NULL, PRIMARY KEY (cls, name)
);
CREATE TABLE IF NOT EXISTS pigsty.pg_user (
    cls text NOT NULL, name text NOT NULL, spec jsonb NOT NULL, PRIMARY KEY (cls, name)
);
CREATE TABLE IF NOT EXISTS pigsty.pg_database (
    cls text NOT NULL, name text NOT NULL, spec jsonb NOT NULL, PRIMARY KEY (cls, name)
);
CREATE TABLE IF NOT EXISTS pigsty.hba_rule (
    cls text NOT NULL, seq integer NOT NULL, spec jsonb NOT NULL, PRIMARY KEY (cls, seq)
);
CREATE TABLE IF NOT EXISTS pigsty.registration (
    kind text NOT NULL, name text NOT NULL, state text NOT NULL, by text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name)
);
"""

_TABLES = (
    "var", "host", "grp", "inventory", "node", "cluster", "instance", "service", "pg_user", "pg_database", "hba_rule"
)  # fmt: skip

# One JSON document: the raw tables in the shape of ``Rows.as_json``.
DUMP_QUERY = """\
SELECT jsonb_build_object(
  'all', (SELECT jsonb_build_object('vars_form', vars_form, 'children_form', children_form, 'extra', extra)
            FROM pigsty.inventory),
  'groups', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'seq', seq, 'vars_form', vars_form,
               'hosts_form', hosts_form, 'extra', extra) ORDER BY seq), '[]') FROM pigsty.grp),
  'hosts', (SELECT coalesce(jsonb_agg(jsonb_build_object('group', grp, 'ip', ip, 'seq', seq,
              'vars_form', vars_form) ORDER BY grp, seq), '[]') FROM pigsty.host),
  'variables', (SELECT coalesce(jsonb_agg(jsonb_build_object('group', grp, 'host', host, 'key', key,
                  'value', value, 'seq', seq) ORDER BY grp NULLS FIRST, host NULLS FIRST, seq), '[]') FROM pigsty.var)
)::text;
"""


def _json(value: Any) -> str:
    return literal(json.dumps(encode(value), sort_keys=False)) + "::jsonb"


def _values(table: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [f"({', '.join(r)})" for r in rows]
    if not lines:
        return ""
    head = f"INSERT INTO pigsty.{ident(table)} ({', '.join(columns)}) VALUES\n  "
    return head + ",\n  ".join(lines) + ";\n"


def _text(value: Any) -> str:
    return "NULL" if value is None else literal(str(value))


def _public(spec: Any) -> dict[str, Any]:
    """A user's, database's or rule's spec without what is secret."""
    return {k: v for k, v in dict(spec).items() if k != "password"} if isinstance(spec, dict) else {"value": spec}


def load_script(rows: Rows, inv: Inventory, source: str) -> str:
    """One transaction that creates the schema if needed and replaces every table but
    ``registration`` with ``rows`` (the raw tables) and ``inv`` (the derived ones)."""
    parts = ["BEGIN;\n", SCHEMA, "TRUNCATE " + ", ".join(f"pigsty.{t}" for t in _TABLES) + ";\n"]
    parts.append(
        _values(
            "inventory",
            ("vars_form", "children_form", "extra", "source"),
            [(literal(rows.vars_form), literal(rows.children_form), _json(rows.extra), literal(source))],
        )
    )
    parts.append(
        _values(
            "grp",
            ("name", "seq", "vars_form", "hosts_form", "extra"),
            [
                (literal(g.name), str(g.seq), literal(g.vars_form), literal(g.hosts_form), _json(g.extra))
                for g in rows.groups
            ],
        )
    )
    parts.append(
        _values(
            "host",
            ("grp", "ip", "seq", "vars_form"),
            [(literal(h.group), literal(h.ip), str(h.seq), literal(h.vars_form)) for h in rows.hosts],
        )
    )
    parts.append(
        _values(
            "var",
            ("grp", "host", "key", "value", "seq"),
            [(_text(v.group), _text(v.host), literal(v.key), _json(v.value), str(v.seq)) for v in rows.variables],
        )
    )
    nodes = {n.ip: n for n in inv.nodes}
    parts.append(
        _values(
            "node",
            ("name", "ip", "meta", "os", "cluster"),
            [
                (literal(n.name), literal(n.ip), str(n.meta).lower(), literal(n.os),
                 _text(n.instance.cluster if n.instance else None))
                for n in inv.nodes
            ],
        )
    )  # fmt: skip
    parts.append(
        _values(
            "cluster",
            ("name", "primary_ins", "vip", "version"),
            [
                (literal(c.name), literal(c.primary.name), _text(c.vip.address if c.vip else None),
                 _text(c.vars.get("pg_version")))
                for c in inv.clusters
            ],
        )
    )  # fmt: skip
    parts.append(
        _values(
            "instance",
            ("ins", "cls", "seq", "role", "ip", "node"),
            [
                (
                    literal(i.name),
                    literal(c.name),
                    str(i.seq),
                    literal(i.role),
                    literal(i.ip),
                    literal(nodes[i.ip].name),
                )
                for c in inv.clusters
                for i in c.instances
            ],
        )
    )
    for table, var in (("pg_user", "pg_users"), ("pg_database", "pg_databases")):
        parts.append(
            _values(
                table,
                ("cls", "name", "spec"),
                [
                    (literal(c.name), literal(str(spec["name"])), _json(_public(spec)))
                    for c in inv.clusters
                    for spec in (c.vars.get(var) or [])
                    if isinstance(spec, dict) and "name" in spec
                ],
            )
        )
    parts.append(
        _values(
            "hba_rule",
            ("cls", "seq", "spec"),
            [
                (literal(c.name), str(n), _json(_public(rule)))
                for c in inv.clusters
                for n, rule in enumerate(c.vars.get("pg_hba_rules") or [])
            ],
        )
    )
    parts.append(
        _values(
            "service",
            ("cls", "name", "port", "spec"),
            [
                (literal(c.name), literal(str(svc["name"])), str(int(svc["port"])), _json(svc))
                for c in inv.clusters
                for svc in (c.vars.get("pg_services") or [])
                if isinstance(svc, dict) and "name" in svc and "port" in svc
            ],
        )
    )
    parts.append("COMMIT;\n")
    return "".join(p for p in parts if p)
