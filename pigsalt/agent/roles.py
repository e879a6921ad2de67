"""Roles for ``pigsalt_pg.role_present``: the spec from the pillar, the read, the diff, the SQL.

Pure, like ``quoting``: the state runs the scripts. ``expire_in`` (days from today) or
``expire_at`` (a date) become ``VALID UNTIL``; no expiry is ``VALID UNTIL 'infinity'``.

Secrets: a role's password never appears in SQL as plaintext. ``role_sql`` sends the SCRAM
verifier computed here (``scram.verifier``) after ``PREAMBLE`` (no statement logging), and diffs
say ``"changed"`` instead of showing a password or a verifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pigsalt.agent import AgentError, scram, settings
from pigsalt.agent.quoting import (
    PREAMBLE,
    bool_field,
    ident,
    in_list,
    int_field,
    literal,
    names_field,
    no_nul,
    parse_rows,
    query,
    reject_unknown,
    str_field,
)

__all__ = ["RoleSpec", "parse_roles", "read_passwords_sql", "read_roles_sql", "role_diff", "role_sql"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MD5 = re.compile(r"md5[0-9a-f]{32}")

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
    parameters: settings.Settings = ()

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
        reject_unknown(entry, cls._KEYS, _ROLE_IGNORED, what)
        password = entry.get("password")
        if password is not None and not isinstance(password, str):
            raise AgentError(f"{what}: password must be a string")
        if password is not None:
            no_nul(password, f"{what}: password")
        valid_until = None
        expire_in, expire_at = entry.get("expire_in"), entry.get("expire_at")
        if expire_in is not None:
            valid_until = ((today or date.today()) + timedelta(days=int_field(entry, "expire_in", 0, what))).isoformat()
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
            login=bool_field(entry, "login", True, what),
            superuser=bool_field(entry, "superuser", False, what),
            createdb=bool_field(entry, "createdb", False, what),
            createrole=bool_field(entry, "createrole", False, what),
            inherit=bool_field(entry, "inherit", True, what),
            replication=bool_field(entry, "replication", False, what),
            bypassrls=bool_field(entry, "bypassrls", False, what),
            connlimit=int_field(entry, "connlimit", -1, what),
            valid_until=valid_until,
            comment=str_field(entry, "comment", "", what),
            roles=tuple(sorted(set(names_field(entry, "roles", what)))),
            parameters=settings.from_pillar(parameters),
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


def read_roles_sql(names: Iterable[str] | None) -> str:
    """A ``query`` of the roles ``names`` (None: every role but PostgreSQL's own ``pg_*``):
    attributes, memberships, settings and ``rolpassword``.

    The output holds password verifiers: it must never be logged or returned.
    """
    where = "r.rolname !~ '^pg_'" if names is None else f"r.rolname IN ({in_list(names)})"
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
        f"FROM pg_authid r WHERE {where} ORDER BY r.rolname"
    )


def read_passwords_sql(names: Iterable[str]) -> str:
    """A ``query`` of ``name`` and ``password`` (``rolpassword``) for the roles ``names``."""
    return query(
        "SELECT rolname AS name, rolpassword AS password FROM pg_authid "
        f"WHERE rolname IN ({in_list(names)}) ORDER BY rolname"
    )


def parse_roles(stdout: str) -> dict[str, dict[str, Any]]:
    """The output of ``read_roles_sql`` keyed by role name, settings parsed into a mapping."""
    roles: dict[str, dict[str, Any]] = {}
    for row in parse_rows(stdout):
        roles[row["name"]] = {
            **row,
            "roles": sorted(row.get("roles") or []),
            "parameters": settings.parse_setconfig(row.get("parameters")),
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
    diff.update(settings.diff(cur["parameters"], spec.parameters))
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
    lines += settings.alter_sql(f"ALTER ROLE {role}", spec.parameters, diff)
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"
