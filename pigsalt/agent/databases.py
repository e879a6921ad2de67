"""Databases for ``pigsalt_pg.database_present``: the spec from the pillar, the reads, the diff,
the scripts (with the schemas and extensions created inside the database).

Pure, like ``quoting``: the state runs the scripts, each in the database ``Script`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pigsalt.agent import AgentError, settings
from pigsalt.agent.psql import MAINTENANCE_DB
from pigsalt.agent.quoting import (
    PREAMBLE,
    bool_field,
    ident,
    int_field,
    literal,
    names_field,
    parse_rows,
    query,
    reject_unknown,
    str_field,
)

__all__ = [
    "DatabaseSpec",
    "Extension",
    "Script",
    "database_diff",
    "database_sql",
    "parse_databases",
    "parse_objects",
    "read_database_sql",
    "read_objects_sql",
]

# Pgbouncer's keys, and upstream keys the inventory accepts without implementing them.
_DB_IGNORED = frozenset(
    {
        "pgbouncer",
        "pool_mode",
        "pool_size",
        "pool_reserve",
        "baseline",
        "register_datasource",
        "state",
        "is_template",
        "strategy",
    }
)
_DB_ABSENT: dict[str, Any] = {
    "exists": False,
    "owner": None,
    "allowconn": True,
    "connlimit": -1,
    "comment": "",
    "parameters": {},
    "revokeconn": False,
    "schemas": [],
    "extensions": [],
}


class Extension(NamedTuple):
    name: str
    schema: str | None = None


class Script(NamedTuple):
    """One psql run: ``sql`` on standard input, connected to database ``dbname``."""

    dbname: str
    sql: str


@dataclass(frozen=True)
class DatabaseSpec:
    """A database as the inventory asks for it (``pillar['pigsty']['pg']['databases']``)."""

    name: str
    owner: str
    template: str = "template1"
    encoding: str = "UTF8"
    lc_collate: str = "C.UTF-8"
    lc_ctype: str = "C.UTF-8"
    tablespace: str = "pg_default"
    allowconn: bool = True
    revokeconn: bool = False
    connlimit: int = -1
    comment: str = ""
    schemas: tuple[str, ...] = ()
    extensions: tuple[Extension, ...] = ()
    parameters: settings.Settings = ()

    _KEYS = (
        "name",
        "owner",
        "template",
        "encoding",
        "locale",
        "lc_collate",
        "lc_ctype",
        "tablespace",
        "allowconn",
        "revokeconn",
        "connlimit",
        "comment",
        "schemas",
        "extensions",
        "parameters",
    )

    @classmethod
    def from_pillar(cls, entry: Mapping[str, Any], dbsu: str = "postgres") -> DatabaseSpec:
        """Build from a pillar database entry; ``locale`` fills ``lc_collate``/``lc_ctype`` left unset."""
        name = entry.get("name")
        if not isinstance(name, str):
            raise AgentError(f"database entry without a name: {sorted(entry)}")
        ident(name)
        what = f"database {name}"
        reject_unknown(entry, cls._KEYS, _DB_IGNORED, what)
        locale = str_field(entry, "locale", "C.UTF-8", what)
        extensions: list[Extension] = []
        for ext in entry.get("extensions") or []:
            if isinstance(ext, str):
                extensions.append(Extension(ext))
            elif isinstance(ext, Mapping) and isinstance(ext.get("name"), str):
                schema = ext.get("schema")
                if schema is not None and not isinstance(schema, str):
                    raise AgentError(f"{what}: extension {ext['name']}: schema must be a name")
                extensions.append(Extension(ext["name"], schema))
            else:
                raise AgentError(f"{what}: {ext!r} is not an extension name or {{name, schema}}")
        for ext in extensions:
            ident(ext.name)
            if ext.schema is not None:
                ident(ext.schema)
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise AgentError(f"{what}: parameters must be a mapping")
        owner = str_field(entry, "owner", dbsu, what)
        ident(owner)
        return cls(
            name=name,
            owner=owner,
            template=str_field(entry, "template", "template1", what),
            encoding=str_field(entry, "encoding", "UTF8", what),
            lc_collate=str_field(entry, "lc_collate", locale, what),
            lc_ctype=str_field(entry, "lc_ctype", locale, what),
            tablespace=str_field(entry, "tablespace", "pg_default", what),
            allowconn=bool_field(entry, "allowconn", True, what),
            revokeconn=bool_field(entry, "revokeconn", False, what),
            connlimit=int_field(entry, "connlimit", -1, what),
            comment=str_field(entry, "comment", "", what),
            schemas=names_field(entry, "schemas", what),
            extensions=tuple(extensions),
            parameters=settings.from_pillar(parameters),
        )


def read_database_sql(name: str) -> str:
    """A ``query`` of database ``name`` as ``pg_database`` sees it (run in any database)."""
    return query(
        "SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner,\n"
        "       pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS lc_collate, d.datctype AS lc_ctype,\n"
        "       t.spcname AS tablespace, d.datallowconn AS allowconn, d.datconnlimit AS connlimit,\n"
        "       coalesce(shobj_description(d.oid, 'pg_database'), '') AS comment,\n"
        "       NOT has_database_privilege('public', d.oid, 'CONNECT') AS revokeconn,\n"
        "       (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0)\n"
        "           AS parameters\n"
        "FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace\n"
        f"WHERE d.datname = {literal(name)}"
    )


def read_objects_sql() -> str:
    """A ``query`` of the schemas and extensions of the database psql is connected to."""
    return query(
        "SELECT ARRAY(SELECT nspname::text FROM pg_namespace ORDER BY 1) AS schemas,\n"
        "       ARRAY(SELECT extname::text FROM pg_extension ORDER BY 1) AS extensions"
    )


def parse_databases(stdout: str) -> dict[str, dict[str, Any]]:
    """The output of ``read_database_sql`` keyed by name, settings parsed into a mapping."""
    return {
        row["name"]: {**row, "parameters": settings.parse_setconfig(row.get("parameters"))}
        for row in parse_rows(stdout)
    }


def parse_objects(stdout: str) -> dict[str, list[str]]:
    """The output of ``read_objects_sql``: ``{"schemas": [...], "extensions": [...]}``."""
    rows = parse_rows(stdout)
    if len(rows) != 1:
        raise AgentError(f"expected one row of schemas and extensions, psql printed {len(rows)}")
    return {"schemas": sorted(rows[0]["schemas"]), "extensions": sorted(rows[0]["extensions"])}


def _locale_key(value: str) -> str:
    """``C.UTF-8`` and ``C.utf8`` name the same locale (glibc normalizes the codeset)."""
    lang, dot, codeset = value.partition(".")
    return lang + dot + codeset.lower().replace("-", "")


def _encoding_key(value: str) -> str:
    return value.upper().replace("-", "").replace("_", "")


def _immutable_errors(current: Mapping[str, Any], spec: DatabaseSpec) -> list[str]:
    checks: list[tuple[str, str, Callable[[str], str]]] = [
        ("encoding", spec.encoding, _encoding_key),
        ("lc_collate", spec.lc_collate, _locale_key),
        ("lc_ctype", spec.lc_ctype, _locale_key),
        ("tablespace", spec.tablespace, str),
    ]
    return [
        f"{key} is {current[key]}, the inventory asks {wanted}"
        for key, wanted, norm in checks
        if norm(current[key]) != norm(wanted)
    ]


def database_diff(
    current: Mapping[str, Any] | None, spec: DatabaseSpec, objects: Mapping[str, list[str]] | None = None
) -> dict[str, dict[str, Any]]:
    """What differs between the database as it is (None: absent) and ``spec``.

    ``objects`` are its schemas and extensions (``parse_objects``); None when they could not be
    read (the database refuses connections), and then they are not compared. Schemas and
    extensions are only added. Raises ``AgentError`` when an attribute fixed at creation
    (encoding, collation, ctype, tablespace) differs: that needs a dump and restore.
    """
    cur: dict[str, Any]
    if current is None:
        cur = dict(_DB_ABSENT)
    else:
        errors = _immutable_errors(current, spec)
        if errors:
            verb = "they cannot" if len(errors) > 1 else "it cannot"
            raise AgentError(f"database {spec.name}: {'; '.join(errors)}; {verb} change in place")
        cur = {"exists": True, **current}
        cur.update(objects if objects is not None else {"schemas": None, "extensions": None})
    diff: dict[str, dict[str, Any]] = {}
    if not cur["exists"]:
        diff["exists"] = {"old": False, "new": True}
    wanted = {
        "owner": spec.owner,
        "allowconn": spec.allowconn,
        "connlimit": spec.connlimit,
        "comment": spec.comment,
        "revokeconn": spec.revokeconn,
    }
    for key, value in wanted.items():
        if cur[key] != value:
            diff[key] = {"old": cur[key], "new": value}
    diff.update(settings.diff(cur["parameters"], spec.parameters))
    for key, names in (("schemas", spec.schemas), ("extensions", tuple(e.name for e in spec.extensions))):
        if cur[key] is not None and not set(names) <= set(cur[key]):
            diff[key] = {"old": sorted(cur[key]), "new": sorted(set(cur[key]) | set(names))}
    return diff


def database_sql(spec: DatabaseSpec, diff: Mapping[str, Any]) -> list[Script]:
    """The scripts that turn the database into ``spec``, given ``database_diff``, in order.

    CREATE DATABASE runs alone (it cannot run in a transaction); the attributes follow in one
    transaction; schemas and extensions run connected to the database itself; refusing
    connections (``allowconn: false``) comes last, after everything that needs to connect.
    """
    db = ident(spec.name)
    scripts: list[Script] = []
    pre = PREAMBLE.rstrip("\n")
    created = "exists" in diff
    if created:
        scripts.append(
            Script(
                MAINTENANCE_DB,
                f"{pre}\nCREATE DATABASE {db} WITH OWNER {ident(spec.owner)} TEMPLATE {ident(spec.template)} "
                f"ENCODING {literal(spec.encoding)} LC_COLLATE {literal(spec.lc_collate)} "
                f"LC_CTYPE {literal(spec.lc_ctype)} TABLESPACE {ident(spec.tablespace)} "
                f"CONNECTION LIMIT {spec.connlimit:d};\n",
            )
        )
    lines: list[str] = []
    if "owner" in diff and not created:
        lines.append(f"ALTER DATABASE {db} OWNER TO {ident(spec.owner)};")
    if "allowconn" in diff and spec.allowconn:
        lines.append(f"ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true;")
    if "connlimit" in diff and not created:
        lines.append(f"ALTER DATABASE {db} WITH CONNECTION LIMIT {spec.connlimit:d};")
    if "comment" in diff:
        lines.append(f"COMMENT ON DATABASE {db} IS {literal(spec.comment) if spec.comment else 'NULL'};")
    lines += settings.alter_sql(f"ALTER DATABASE {db}", spec.parameters, diff)
    if "revokeconn" in diff:
        lines.append(
            f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC;"
            if spec.revokeconn
            else f"GRANT CONNECT ON DATABASE {db} TO PUBLIC;"
        )
    if lines:
        scripts.append(Script(MAINTENANCE_DB, "\n".join([pre, "BEGIN;", *lines, "COMMIT;"]) + "\n"))
    inside: list[str] = []
    if "schemas" in diff:
        missing = set(diff["schemas"]["new"]) - set(diff["schemas"]["old"])
        owner = ident(spec.owner)
        inside += [
            f"CREATE SCHEMA IF NOT EXISTS {ident(s)} AUTHORIZATION {owner};" for s in spec.schemas if s in missing
        ]
    if "extensions" in diff:
        missing = set(diff["extensions"]["new"]) - set(diff["extensions"]["old"])
        for ext in spec.extensions:
            if ext.name in missing:
                schema = f" WITH SCHEMA {ident(ext.schema)}" if ext.schema else ""
                inside.append(f"CREATE EXTENSION IF NOT EXISTS {ident(ext.name)}{schema} CASCADE;")
    if inside:
        scripts.append(Script(spec.name, "\n".join([pre, "BEGIN;", *inside, "COMMIT;"]) + "\n"))
    if "allowconn" in diff and not spec.allowconn:
        scripts.append(Script(MAINTENANCE_DB, f"{pre}\nALTER DATABASE {db} WITH ALLOW_CONNECTIONS false;\n"))
    return scripts
