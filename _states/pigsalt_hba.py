"""State module ``pigsalt_hba``: an HBA file holding the rules of this instance's current role.

The inventory compiles one list of rules per role (``primary``, ``replica``); which one applies
is asked of Patroni each time (``patroni.hba_role``). Before Patroni first answers (first
bootstrap) ``fallback_role`` is used. Every role's file is also staged beside the live one
(``<name>.primary``, ``<name>.replica``): Patroni's role-change callback
(``pigsalt.agent.hba_follow``) puts the new role's file in place at once after a failover or a
switchover, without waiting for Salt; the next run then finds nothing to change.

Postgres: the new file is checked by Postgres itself (``pg_hba_file_rules`` parses the file on
disk) before ``pg_reload_conf()``; a file with errors is put back as it was and the state fails
naming the line. Pgbouncer: the file is written, then ``RELOAD``. Nothing is ever restarted; a
server that is not running reads the file when it starts.

.. code-block:: yaml

    pgsql-hba-managed:
      pigsalt_hba.managed:
        - name: /pg/data/pg_hba.conf
        - kind: postgres
        - rules: {primary: [...], replica: [...]}
        - fallback_role: replica
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Modules, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import AgentError, files, hba_follow, hba_sql, psql, quoting
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_hba"

HEADER = "# Managed by Salt (pigsalt_hba) for role {role}: edit the inventory, not this file."
KINDS = ("postgres", "pgbouncer")
MODE = 0o600
PSQL_TIMEOUT = 60
_HEADER_ROLE = re.compile(r"^# Managed by Salt \(pigsalt_hba\) for role (\S+):")


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


# --- the file --------------------------------------------------------------------------------


def _rules(text: str | None) -> list[str]:
    """The rule lines of an HBA file (neither blank nor comments), spaces between fields collapsed."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _comments(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip().startswith("#")]


def _header_role(text: str | None) -> str | None:
    match = _HEADER_ROLE.match(text or "")
    return match.group(1) if match else None


def _diff(old: files.Found, new_text: str, role: str, uid: int, gid: int) -> dict[str, dict[str, Any]]:
    """What differs: ``exists``, ``role`` (named in the header), ``rules``, ``comments`` or ``layout``,
    ``mode``, ``owner``."""
    diff: dict[str, dict[str, Any]] = {}
    if old.data is None:
        diff["exists"] = {"old": False, "new": True}
    elif old.data != new_text.encode("utf-8"):
        if _header_role(old.text) != role:
            diff["role"] = {"old": _header_role(old.text), "new": role}
        if _rules(old.text) != _rules(new_text):
            diff["rules"] = {"old": _rules(old.text), "new": _rules(new_text)}
        if not diff and _comments(old.text) != _comments(new_text):
            diff["comments"] = {"old": _comments(old.text), "new": _comments(new_text)}
        if not diff:
            diff["layout"] = {"old": "not as pigsalt writes it", "new": "one rule per line"}
    if old.data is None:
        diff["rules"] = {"old": [], "new": _rules(new_text)}
    else:
        if old.mode != MODE:
            diff["mode"] = {"old": f"{old.mode:04o}", "new": f"{MODE:04o}"}
        if (old.uid, old.gid) != (uid, gid):
            assert old.uid is not None and old.gid is not None
            diff["owner"] = {"old": files.owner_name(old.uid, old.gid), "new": files.owner_name(uid, gid)}
    return diff


def _text(role: str, lines: list[str]) -> str:
    return "\n".join([HEADER.format(role=role), *lines]) + "\n"


def _stale(path: Path, text: str, uid: int, gid: int) -> bool:
    """Whether the staged copy at ``path`` is not exactly ``text``, mode 0600, owned uid:gid."""
    found = files.Found.read(path)
    return (found.data, found.mode, found.uid, found.gid) != (text.encode("utf-8"), MODE, uid, gid)


# --- applying --------------------------------------------------------------------------------


class _Failed(Exception):
    pass


def _psql(dbsu: str, port: int) -> psql.Psql:
    """psql as ``dbsu`` on ``port``, run by Salt (each call with ``PSQL_TIMEOUT``)."""
    return psql.Psql(psql.salt_runner(__salt__["cmd.run_all"], dbsu), port=int(port), timeout=PSQL_TIMEOUT)


def _apply_postgres(path: Path, old: files.Found, new_text: str, dbsu: str, port: int) -> str:
    """Check the file just written with Postgres, then reload; what happened, for the comment.

    Raises ``_Failed`` (after putting ``old`` back) when Postgres finds errors in it.
    """
    pg = _psql(dbsu, port)
    done = pg.script(hba_sql.read_hba_sql())
    if done.returncode == psql.CANNOT_CONNECT:
        return "written; Postgres is not running, it reads the file when it starts"
    if done.returncode != 0:
        files.restore(path, old)
        raise _Failed(f"cannot check the new file, the previous one is back: {done.error}")
    try:
        (found,) = quoting.parse_rows(done.stdout)
    except (AgentError, ValueError) as err:
        files.restore(path, old)
        raise _Failed(f"cannot check the new file, the previous one is back: {err}") from err
    if os.path.realpath(found["hba_file"]) != os.path.realpath(path):
        files.restore(path, old)
        raise _Failed(f"Postgres reads its HBA rules from {found['hba_file']}, not from this file; nothing changed")
    if found["errors"]:
        files.restore(path, old)
        lines = new_text.splitlines()
        errors = "; ".join(
            f"line {e['line_number']} ({lines[e['line_number'] - 1] if 0 < e['line_number'] <= len(lines) else '?'}): "
            f"{e['error']}"
            for e in found["errors"]
        )
        raise _Failed(f"Postgres rejects the new rules, the previous file is back: {errors}")
    done = pg.script(hba_sql.RELOAD_SQL)
    if done.returncode != 0:
        raise _Failed(f"written and checked, but pg_reload_conf() failed: {done.error}")
    return "written, checked by Postgres and reloaded"


def _apply_pgbouncer() -> str:
    try:
        __salt__["pgbouncer.reload"]()
    except CommandExecutionError as err:
        if files.NOT_RUNNING.search(str(err)):
            return "written; pgbouncer is not running, it reads the file when it starts"
        raise _Failed(f"written, but pgbouncer did not reload: {err}") from err
    return "written and pgbouncer reloaded"


def managed(
    name: str,
    rules: dict[str, list[str]],
    kind: str,
    fallback_role: str = "primary",
    user: str = "postgres",
    group: str = "postgres",
    dbsu: str = "postgres",
    port: int = 5432,
) -> dict[str, Any]:
    """HBA file ``name`` holds ``rules[role]`` for this instance's current role, and is in effect.

    ``kind`` is ``postgres`` (checked with ``pg_hba_file_rules``, then ``pg_reload_conf()`` as
    ``dbsu`` on ``port``) or ``pgbouncer`` (``pgbouncer.reload``). The file is mode 0600, owned
    by ``user``:``group``.
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": False, "comment": ""}
    path = Path(name)
    if kind not in KINDS:
        ret["comment"] = f"{name}: kind must be one of {', '.join(KINDS)}, not {kind!r}"
        return ret
    try:
        role = str(__salt__["patroni.hba_role"]())
        whence = f"role {role}"
    except CommandExecutionError as err:
        role = fallback_role
        whence = f"role {role} (the fallback: Patroni does not answer: {err})"
    lines = rules.get(role)
    if lines is None:
        ret["comment"] = f"{name}: the inventory has no {kind} HBA rules for role {role}"
        return ret
    every = [line for role_lines in rules.values() for line in role_lines]
    bad = [line for line in every if not isinstance(line, str) or "\n" in line or "\r" in line]
    if bad:
        ret["comment"] = f"{name}: HBA rules must be single lines: {bad!r}"
        return ret
    try:
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as err:
        # A dry run before the first deploy: the package that creates the owner has not run yet.
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name}: no such user or group: {err}" + (
            f"; would write the rules for {whence} once it exists" if __opts__["test"] else ""
        )
        return ret
    new_text = _text(role, lines)
    old = files.Found.read(path)
    diff = _diff(old, new_text, role, uid, gid)
    staged = {r: _text(r, rules[r]) for r in sorted(rules)}
    stale = [r for r, text in staged.items() if _stale(hba_follow.staged_path(path, r), text, uid, gid)]
    if stale:
        diff["staged"] = {"old": None, "new": stale}
    if not diff:
        ret["result"] = True
        ret["comment"] = f"{name}: already in the desired state for {whence}"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = diff
        ret["comment"] = f"{name}: would write the rules for {whence}"
        return ret
    try:
        for r in stale:
            files.write(hba_follow.staged_path(path, r), staged[r].encode("utf-8"), MODE, uid, gid)
        if set(diff) == {"staged"}:
            done = f"staged the rules of {', '.join(stale)} for Patroni's role-change callback"
        else:
            files.write(path, new_text.encode("utf-8"), MODE, uid, gid)
            done = _apply_postgres(path, old, new_text, dbsu, port) if kind == "postgres" else _apply_pgbouncer()
    except _Failed as err:
        ret["comment"] = f"{name}: {err}"
        ret["changes"] = diff if files.Found.read(path).data != old.data else {}
        return ret
    except OSError as err:
        ret["comment"] = f"{name}: cannot write: {err}"
        return ret
    ret["changes"] = diff
    left = _diff(files.Found.read(path), new_text, role, uid, gid)
    left.update({f"staged {r}": {} for r in staged if _stale(hba_follow.staged_path(path, r), staged[r], uid, gid)})
    if left:
        ret["comment"] = f"{name}: still differs after writing: {', '.join(sorted(left))}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{name}: {done}; rules for {whence}"
    return ret
