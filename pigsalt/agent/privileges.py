"""Default privileges (``ALTER DEFAULT PRIVILEGES FOR ROLE … GRANT …``): read, compare, grant.

A grant line is Pigsty's spelling, ``GRANT SELECT ON TABLES TO dbrole_readonly``. What a database
holds is read from ``pg_default_acl`` (global entries only: ``defaclnamespace = 0``) and compared
privilege by privilege, as the ACL letters Postgres stores (``r`` SELECT, ``a`` INSERT, …).
Grants are only added: a privilege the inventory no longer lists is left in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pigsalt.agent import AgentError, quoting

OBJTYPES = {"TABLES": "r", "SEQUENCES": "S", "FUNCTIONS": "f", "TYPES": "T", "SCHEMAS": "n"}
LETTERS = {
    "SELECT": "r",
    "INSERT": "a",
    "UPDATE": "w",
    "DELETE": "d",
    "TRUNCATE": "D",
    "REFERENCES": "x",
    "TRIGGER": "t",
    "EXECUTE": "X",
    "USAGE": "U",
    "CREATE": "C",
}
# What ALL means for each kind (Postgres 15).
ALL = {"r": "arwdDxt", "S": "rwU", "f": "X", "T": "U", "n": "UC"}
_GRANT = re.compile(r"GRANT (?P<privs>[A-Z, ]+) ON (?P<kind>[A-Z]+) TO (?P<grantee>[A-Za-z_][A-Za-z0-9_]*)")
_ACLITEM = re.compile(r'^(?P<grantee>"(?:[^"]|"")*"|[^=]*)=(?P<privs>[A-Za-z*]*)/')


@dataclass(frozen=True)
class Grant:
    """One inventory line: ``privileges`` (ACL letters) on ``objtype`` to ``grantee``."""

    line: str
    objtype: str
    grantee: str
    letters: str

    @classmethod
    def parse(cls, line: str) -> Grant:
        found = _GRANT.fullmatch(" ".join(str(line).split()))
        if not found or found["kind"] not in OBJTYPES:
            kinds = "|".join(OBJTYPES)
            raise AgentError(f"default privilege {line!r}: expected GRANT <privileges> ON <{kinds}> TO <role>")
        objtype = OBJTYPES[found["kind"]]
        letters = ""
        for priv in (p.strip() for p in found["privs"].split(",")):
            if priv == "ALL":
                letters += ALL[objtype]
            elif priv in LETTERS and LETTERS[priv] in ALL[objtype]:
                letters += LETTERS[priv]
            else:
                raise AgentError(f"default privilege {line!r}: {priv} does not apply to {found['kind']}")
        return cls(found.group(0), objtype, found["grantee"], "".join(sorted(set(letters))))


def read_sql(owners: Iterable[str]) -> str:
    """A ``query`` of the global default ACLs of ``owners``: owner, objtype, acl (aclitem texts)."""
    return quoting.query(
        "SELECT r.rolname AS owner, d.defaclobjtype::text AS objtype, d.defaclacl::text[] AS acl\n"
        "  FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole\n"
        f" WHERE d.defaclnamespace = 0 AND r.rolname IN ({', '.join(quoting.literal(o) for o in sorted(owners))})"
    )


def _held(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """(owner, objtype, grantee) -> the ACL letters granted, from ``read_sql``'s rows."""
    held: dict[tuple[str, str, str], str] = {}
    for row in rows:
        for item in row.get("acl") or []:
            found = _ACLITEM.match(str(item))
            if not found:
                raise AgentError(f"cannot read the ACL item {item!r} of {row.get('owner')}")
            grantee = found["grantee"]
            if grantee.startswith('"'):
                grantee = grantee[1:-1].replace('""', '"')
            held[(str(row["owner"]), str(row["objtype"]), grantee)] = found["privs"].replace("*", "")
    return held


def missing(rows: Sequence[Mapping[str, Any]], owners: Sequence[str], grants: Sequence[Grant]) -> list[str]:
    """``FOR ROLE <owner> <grant>`` for every grant some of whose privileges the database lacks."""
    held = _held(rows)
    return [
        f"FOR ROLE {owner} {grant.line}"
        for owner in owners
        for grant in grants
        if not set(grant.letters) <= set(held.get((owner, grant.objtype, grant.grantee), ""))
    ]


def grant_sql(lacking: Iterable[str]) -> str:
    """The script granting each ``FOR ROLE <owner> GRANT … TO <role>`` of ``missing``."""
    statements = []
    for entry in lacking:
        owner, grant = entry.removeprefix("FOR ROLE ").split(" ", 1)
        found = _GRANT.fullmatch(grant)
        if not found:
            raise AgentError(f"not a default privilege: {entry!r}")
        statements.append(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {quoting.ident(owner)} GRANT {found['privs']} "
            f"ON {found['kind']} TO {quoting.ident(found['grantee'])};"
        )
    return quoting.PREAMBLE + "\n".join(statements) + "\n"
