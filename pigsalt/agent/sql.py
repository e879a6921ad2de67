"""SQL for the ``pigsalt_pg`` and ``pigsalt_pgbouncer`` states: quoting, reads, diffs and scripts.

Everything here is pure: it builds the SQL text, parses psql's output and compares it with the
inventory. The state modules run the scripts with ``pigsalt.agent.psql`` (as the database
superuser, over the Unix socket, SQL on standard input) and decide what to do with the result.

Secrets: a role's password never appears in SQL as plaintext. ``role_sql`` sends the SCRAM
verifier computed here (``scram.verifier``), every script starts with ``PREAMBLE`` (no statement
logging, no statement text in ``pg_stat_activity`` or ``pg_stat_statements``), and diffs say
``"changed"`` instead of showing a password or a verifier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from pigsalt.agent import AgentError, scram
from pigsalt.agent.psql import MAINTENANCE_DB

__all__ = [
    "HIDDEN",
    "PREAMBLE",
    "RELOAD_SQL",
    "DatabaseSpec",
    "Extension",
    "RoleSpec",
    "Script",
    "database_diff",
    "database_sql",
    "ident",
    "literal",
    "parse_databases",
    "parse_objects",
    "parse_roles",
    "parse_rows",
    "query",
    "read_database_sql",
    "read_hba_sql",
    "read_objects_sql",
    "read_passwords_sql",
    "read_roles_sql",
    "role_diff",
    "role_sql",
    "scrub",
]

# Sent first in every script. The first three are the contract; the others keep a statement's
# text (a password verifier) out of the slow-query log, pg_stat_activity and pg_stat_statements,
# and make sure the quoting in ``literal`` means what it says.
PREAMBLE = (
    "SET log_statement = 'none';\n"
    "SET log_min_error_statement = 'panic';\n"
    "SET password_encryption = 'scram-sha-256';\n"
    "SET log_min_duration_statement = -1;\n"
    "SET log_min_duration_sample = -1;\n"
    "SET track_activities = off;\n"
    "SET pg_stat_statements.track_utility = off;\n"
    "SET standard_conforming_strings = on;\n"
)

MAX_IDENT_BYTES = 63  # NAMEDATALEN - 1: Postgres silently truncates longer names
# GUCs whose value is a list: Postgres quotes each element of ``SET x = 'a', 'b'`` as an identifier.
LIST_SETTINGS = frozenset(
    {
        "search_path",
        "temp_tablespaces",
        "local_preload_libraries",
        "session_preload_libraries",
        "shared_preload_libraries",
    }
)
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MD5 = re.compile(r"md5[0-9a-f]{32}")


# --- quoting ---------------------------------------------------------------------------------


def _no_nul(text: str, what: str) -> str:
    if "\x00" in text:
        raise AgentError(f"{what} {text!r} contains a NUL character, which Postgres cannot store")
    return text


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier: always double-quoted, inner quotes doubled.

    Raises ``AgentError`` for an empty name, a NUL, or more than 63 bytes (Postgres would
    truncate the name, and the state would then never find what it created).
    """
    _no_nul(name, "identifier")
    if not name or len(name.encode("utf-8")) > MAX_IDENT_BYTES:
        raise AgentError(f"identifier {name!r} must be 1 to {MAX_IDENT_BYTES} bytes long")
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as a standard SQL string literal: single quotes doubled (backslashes are plain)."""
    return "'" + _no_nul(value, "string").replace("'", "''") + "'"


# --- scripts and their output ------------------------------------------------------------


def query(select: str) -> str:
    """A script whose only output is the rows of ``select`` as one JSON array."""
    return f"{PREAMBLE}SELECT coalesce(json_agg(t), '[]') FROM (\n{select}\n) t;\n"


def parse_rows(stdout: str) -> list[dict[str, Any]]:
    """The rows printed by a ``query`` script."""
    try:
        rows = json.loads(stdout)
    except json.JSONDecodeError as err:
        raise AgentError(f"psql did not print one JSON document ({err}): {stdout[:200]!r}") from err
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise AgentError(f"psql printed {type(rows).__name__}, not a list of rows")
    return rows


_SECRET_PATTERNS = (
    re.compile(r"SCRAM-SHA-256\$[^\s'\"]*"),
    re.compile(r"md5[0-9a-f]{32}"),
    re.compile(r"PASSWORD\s+'(?:[^']|'')*'?", re.IGNORECASE),
)
HIDDEN = "(hidden)"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (psql's stderr, say) without ``secrets`` nor anything shaped like a password.

    psql echoes the failing statement on a syntax error (``LINE 1: ALTER ROLE … PASSWORD …``):
    whatever reaches a state's comment goes through here first.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = _SECRET_PATTERNS[2].sub(f"PASSWORD {HIDDEN}", text)
    for pattern in _SECRET_PATTERNS[:2]:
        text = pattern.sub(HIDDEN, text)
    return text


def _in_list(names: Iterable[str]) -> str:
    quoted = [literal(_no_nul(name, "name")) for name in sorted(set(names))]
    if not quoted:
        raise AgentError("no names to read")
    return ", ".join(quoted)


# --- settings (ALTER ROLE/DATABASE … SET) ----------------------------------------------------


def _setting_name(name: str) -> str:
    if not _SETTING_NAME.fullmatch(name):
        raise AgentError(f"{name!r} is not a configuration parameter name")
    return name.lower()


def _setting_parts(name: str, value: object) -> list[str]:
    if isinstance(value, bool):
        return ["on" if value else "off"]
    if not isinstance(value, (str, int, float)):
        raise AgentError(f"parameter {name}: {value!r} is not a string, number or boolean")
    text = str(value)
    if name in LIST_SETTINGS:
        return [part.strip().strip('"') for part in text.split(",") if part.strip()]
    return [text]


def _setting_key(name: str, text: str) -> list[str]:
    """A stored ``pg_db_role_setting`` value in a form comparable with ``_setting_parts``."""
    if name in LIST_SETTINGS:
        return [part.strip().strip('"').replace('""', '"') for part in text.split(",") if part.strip()]
    return [text]


def _settings(raw: Mapping[str, object]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((_setting_name(k), tuple(_setting_parts(_setting_name(k), v))) for k, v in raw.items()))


def _parse_setconfig(items: Iterable[str] | None) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in items or ():
        key, _, value = item.partition("=")
        parsed[key] = value
    return parsed


def _changed_settings(current: Mapping[str, str], wanted: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """The names in ``wanted`` whose stored value (``current``) differs or is missing."""
    return [k for k, parts in wanted if k not in current or _setting_key(k, current[k]) != list(parts)]


def _settings_diff(current: Mapping[str, str], wanted: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    """``{"parameters": {"old", "new"}}`` when a wanted setting differs; settings not asked for stay."""
    changed = _changed_settings(current, wanted)
    if not changed:
        return {}
    new = {**current, **{k: ", ".join(parts) for k, parts in wanted if k in changed}}
    return {"parameters": {"old": dict(sorted(current.items())), "new": dict(sorted(new.items()))}}


def _settings_sql(target: str, wanted: tuple[tuple[str, tuple[str, ...]], ...], diff: Mapping[str, Any]) -> list[str]:
    """``<target> SET name = 'value';`` for each setting ``diff`` reports as changed."""
    if "parameters" not in diff:
        return []
    changed = _changed_settings(diff["parameters"]["old"], wanted)
    return [f"{target} SET {k} = {', '.join(literal(part) for part in parts)};" for k, parts in wanted if k in changed]


# --- roles -----------------------------------------------------------------------------------

# Pgbouncer's keys, and upstream keys the inventory accepts without implementing them.
_ROLE_IGNORED = frozenset(
    {
        "pgbouncer",
        "pool_mode",
        "pool_connlimit",
        "pool_size",
        "pool_reserve",
        "state",
        "admin",
        "search_path",
        "timezone",
    }
)
_ROLE_FLAGS = ("login", "superuser", "createdb", "createrole", "inherit", "replication", "bypassrls")
_FLAG_SQL = {
    "login": "LOGIN",
    "superuser": "SUPERUSER",
    "createdb": "CREATEDB",
    "createrole": "CREATEROLE",
    "inherit": "INHERIT",
    "replication": "REPLICATION",
    "bypassrls": "BYPASSRLS",
}
# What a role that does not exist yet is compared with: Postgres' CREATE ROLE defaults.
_ROLE_ABSENT: dict[str, Any] = {
    "exists": False,
    "login": False,
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "inherit": True,
    "replication": False,
    "bypassrls": False,
    "connlimit": -1,
    "valid_until": None,
    "comment": "",
    "roles": [],
    "parameters": {},
    "password": None,
}


def _bool(entry: Mapping[str, Any], key: str, default: bool, what: str) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise AgentError(f"{what}: {key} must be true or false, not {value!r}")
    return value


def _int(entry: Mapping[str, Any], key: str, default: int, what: str) -> int:
    value = entry.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise AgentError(f"{what}: {key} must be an integer, not {value!r}")
    return value


def _str(entry: Mapping[str, Any], key: str, default: str, what: str) -> str:
    value = entry.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise AgentError(f"{what}: {key} must be a string, not {value!r}")
    return _no_nul(value, f"{what}: {key}")


def _names(entry: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
    value = entry.get(key) or []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise AgentError(f"{what}: {key} must be a list of names, not {value!r}")
    for name in value:
        ident(name)
    return tuple(value)


def _unknown(entry: Mapping[str, Any], known: Iterable[str], ignored: Iterable[str], what: str) -> None:
    extra = sorted(set(entry) - set(known) - set(ignored))
    if extra:
        raise AgentError(f"{what}: unknown keys {', '.join(extra)}")


@dataclass(frozen=True)
class RoleSpec:
    """A role as the inventory asks for it (``pillar['pigsty']['pg']['users']`` and default roles).

    ``password`` None means "never touch the password". A password that already is a SCRAM
    verifier or an md5 hash is stored as it is; anything else is a plaintext that is hashed
    here before it is sent.
    """

    name: str
    password: str | None = None
    login: bool = True
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    inherit: bool = True
    replication: bool = False
    bypassrls: bool = False
    connlimit: int = -1
    valid_until: str | None = None
    comment: str = ""
    roles: tuple[str, ...] = ()
    parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    _KEYS = (
        "name",
        "password",
        *_ROLE_FLAGS,
        "connlimit",
        "expire_at",
        "expire_in",
        "comment",
        "roles",
        "parameters",
    )

    @classmethod
    def from_pillar(cls, entry: Mapping[str, Any], today: date | None = None) -> RoleSpec:
        """Build from a pillar user entry; ``expire_in`` (days from ``today``) wins over ``expire_at``.

        Keys pigsalt manages elsewhere (``pgbouncer``, ``pool_mode``, …) are ignored; unknown keys
        raise ``AgentError``.
        """
        name = entry.get("name")
        if not isinstance(name, str):
            raise AgentError(f"role entry without a name: {sorted(entry)}")
        ident(name)
        what = f"role {name}"
        _unknown(entry, cls._KEYS, _ROLE_IGNORED, what)
        password = entry.get("password")
        if password is not None and not isinstance(password, str):
            raise AgentError(f"{what}: password must be a string")
        if password is not None:
            _no_nul(password, f"{what}: password")
        valid_until = None
        expire_in, expire_at = entry.get("expire_in"), entry.get("expire_at")
        if expire_in is not None:
            valid_until = ((today or date.today()) + timedelta(days=_int(entry, "expire_in", 0, what))).isoformat()
        elif expire_at is not None:
            if not isinstance(expire_at, str) or not _DATE.fullmatch(expire_at):
                raise AgentError(f"{what}: expire_at must be a date YYYY-MM-DD, not {expire_at!r}")
            valid_until = date.fromisoformat(expire_at).isoformat()
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise AgentError(f"{what}: parameters must be a mapping")
        return cls(
            name=name,
            password=password,
            login=_bool(entry, "login", True, what),
            superuser=_bool(entry, "superuser", False, what),
            createdb=_bool(entry, "createdb", False, what),
            createrole=_bool(entry, "createrole", False, what),
            inherit=_bool(entry, "inherit", True, what),
            replication=_bool(entry, "replication", False, what),
            bypassrls=_bool(entry, "bypassrls", False, what),
            connlimit=_int(entry, "connlimit", -1, what),
            valid_until=valid_until,
            comment=_str(entry, "comment", "", what),
            roles=tuple(sorted(set(_names(entry, "roles", what)))),
            parameters=_settings(parameters),
        )

    @property
    def prehashed(self) -> bool:
        """Whether ``password`` is already a verifier (SCRAM) or hash (md5), stored as it is."""
        return self.password is not None and (
            scram.parse(self.password) is not None or _MD5.fullmatch(self.password) is not None
        )

    def password_matches(self, stored: str | None) -> bool:
        """Whether ``stored`` (``pg_authid.rolpassword``) already is this spec's password."""
        if self.password is None:
            return True
        if self.prehashed:
            return stored == self.password
        return scram.matches(self.password, stored)


def read_roles_sql(names: Iterable[str]) -> str:
    """A ``query`` of the roles ``names``: attributes, memberships, settings and ``rolpassword``.

    The output holds password verifiers: it must never be logged or returned.
    """
    return query(
        "SELECT r.rolname AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolcreatedb AS createdb,\n"
        "       r.rolcreaterole AS createrole, r.rolinherit AS inherit, r.rolreplication AS replication,\n"
        "       r.rolbypassrls AS bypassrls, r.rolconnlimit AS connlimit,\n"
        "       CASE WHEN r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' THEN NULL\n"
        "            ELSE to_char(r.rolvaliduntil, 'YYYY-MM-DD') END AS valid_until,\n"
        "       coalesce(shobj_description(r.oid, 'pg_authid'), '') AS comment,\n"
        "       ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_authid g ON g.oid = m.roleid\n"
        "             WHERE m.member = r.oid ORDER BY 1) AS roles,\n"
        "       (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = 0 AND s.setrole = r.oid)\n"
        "           AS parameters,\n"
        "       r.rolpassword AS password\n"
        f"FROM pg_authid r WHERE r.rolname IN ({_in_list(names)}) ORDER BY r.rolname"
    )


def read_hba_sql() -> str:
    """A ``query`` of the server's ``hba_file`` and the errors Postgres finds in that file on disk now.

    ``pg_hba_file_rules`` parses the file afresh, so this checks a new file before any reload.
    """
    return query(
        "SELECT current_setting('hba_file') AS hba_file,\n"
        "       (SELECT coalesce(json_agg(e ORDER BY e.line_number), '[]')\n"
        "          FROM (SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL) e) AS errors"
    )


RELOAD_SQL = f"{PREAMBLE}SELECT pg_reload_conf();\n"


def read_passwords_sql(names: Iterable[str]) -> str:
    """A ``query`` of ``name`` and ``password`` (``rolpassword``) for the roles ``names``."""
    return query(
        "SELECT rolname AS name, rolpassword AS password FROM pg_authid "
        f"WHERE rolname IN ({_in_list(names)}) ORDER BY rolname"
    )


def parse_roles(stdout: str) -> dict[str, dict[str, Any]]:
    """The output of ``read_roles_sql`` keyed by role name, settings parsed into a mapping."""
    roles: dict[str, dict[str, Any]] = {}
    for row in parse_rows(stdout):
        roles[row["name"]] = {
            **row,
            "roles": sorted(row.get("roles") or []),
            "parameters": _parse_setconfig(row.get("parameters")),
        }
    return roles


def role_diff(current: Mapping[str, Any] | None, spec: RoleSpec, force: bool = False) -> dict[str, dict[str, Any]]:
    """What differs between the role as it is (None: absent) and ``spec``: ``{key: {"old", "new"}}``.

    Memberships are only added; with ``force`` the ones the inventory does not list are revoked.
    The password entry never holds a secret: ``{"old": "(set)" | "(unset)", "new": "changed"}``.
    """
    cur = dict(_ROLE_ABSENT) if current is None else {"exists": True, **current}
    diff: dict[str, dict[str, Any]] = {}
    if not cur["exists"]:
        diff["exists"] = {"old": False, "new": True}
    wanted: dict[str, Any] = {flag: getattr(spec, flag) for flag in _ROLE_FLAGS}
    wanted.update(connlimit=spec.connlimit, valid_until=spec.valid_until, comment=spec.comment)
    for key, value in wanted.items():
        if cur[key] != value:
            diff[key] = {"old": cur[key], "new": value}
    have = set(cur["roles"])
    new_roles = set(spec.roles) if force else have | set(spec.roles)
    if new_roles != have:
        diff["roles"] = {"old": sorted(have), "new": sorted(new_roles)}
    diff.update(_settings_diff(cur["parameters"], spec.parameters))
    if not spec.password_matches(cur["password"]):
        diff["password"] = {"old": "(set)" if cur["password"] else "(unset)", "new": "changed"}
    return diff


def _role_options(spec: RoleSpec, keys: Iterable[str], salt: bytes | None) -> str:
    options: list[str] = []
    for key in keys:
        if key in _FLAG_SQL:
            options.append(_FLAG_SQL[key] if getattr(spec, key) else f"NO{_FLAG_SQL[key]}")
        elif key == "connlimit":
            options.append(f"CONNECTION LIMIT {spec.connlimit:d}")
        elif key == "valid_until":
            options.append(f"VALID UNTIL {literal(spec.valid_until or 'infinity')}")
        elif key == "password":
            assert spec.password is not None
            secret = spec.password if spec.prehashed else scram.verifier(spec.password, salt=salt)
            options.append(f"PASSWORD {literal(secret)}")
    return " ".join(options)


def role_sql(spec: RoleSpec, diff: Mapping[str, Any], salt: bytes | None = None) -> str:
    """The script that turns the role into ``spec``, given ``role_diff``: one transaction.

    The password goes as a SCRAM verifier computed here (``salt`` only for reproducible tests).
    """
    role = ident(spec.name)
    lines = [PREAMBLE.rstrip("\n"), "BEGIN;"]
    if "exists" in diff:
        keys = [*_ROLE_FLAGS, "connlimit"]
        keys += [key for key in ("valid_until", "password") if key in diff]
        lines.append(f"CREATE ROLE {role} WITH {_role_options(spec, keys, salt)};")
    else:
        keys = [key for key in (*_ROLE_FLAGS, "connlimit", "valid_until", "password") if key in diff]
        if keys:
            lines.append(f"ALTER ROLE {role} WITH {_role_options(spec, keys, salt)};")
    if "roles" in diff:
        old, new = set(diff["roles"]["old"]), set(diff["roles"]["new"])
        lines += [f"GRANT {ident(group)} TO {role};" for group in sorted(new - old)]
        lines += [f"REVOKE {ident(group)} FROM {role};" for group in sorted(old - new)]
    if "comment" in diff:
        lines.append(f"COMMENT ON ROLE {role} IS {literal(spec.comment) if spec.comment else 'NULL'};")
    lines += _settings_sql(f"ALTER ROLE {role}", spec.parameters, diff)
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


# --- databases -------------------------------------------------------------------------------

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
    parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()

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
        _unknown(entry, cls._KEYS, _DB_IGNORED, what)
        locale = _str(entry, "locale", "C.UTF-8", what)
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
        owner = _str(entry, "owner", dbsu, what)
        ident(owner)
        return cls(
            name=name,
            owner=owner,
            template=_str(entry, "template", "template1", what),
            encoding=_str(entry, "encoding", "UTF8", what),
            lc_collate=_str(entry, "lc_collate", locale, what),
            lc_ctype=_str(entry, "lc_ctype", locale, what),
            tablespace=_str(entry, "tablespace", "pg_default", what),
            allowconn=_bool(entry, "allowconn", True, what),
            revokeconn=_bool(entry, "revokeconn", False, what),
            connlimit=_int(entry, "connlimit", -1, what),
            comment=_str(entry, "comment", "", what),
            schemas=_names(entry, "schemas", what),
            extensions=tuple(extensions),
            parameters=_settings(parameters),
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
    return {row["name"]: {**row, "parameters": _parse_setconfig(row.get("parameters"))} for row in parse_rows(stdout)}


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
    diff.update(_settings_diff(cur["parameters"], spec.parameters))
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
    lines += _settings_sql(f"ALTER DATABASE {db}", spec.parameters, diff)
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
