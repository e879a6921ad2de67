"""State module ``pigsalt_pgbouncer``: Pgbouncer's auth file, from the local Postgres' verifiers.

Each listed user gets a line ``"name" "SCRAM-SHA-256$…"`` with the verifier the LOCAL Postgres
stores in ``pg_authid`` (replicated to every member, so a replica serves its own Pgbouncer).
Pgbouncer 1.18 checks clients against it and logs in to Postgres with SCRAM pass-through: no
plaintext password is kept anywhere. The file content never appears in ``changes`` or comments.

A user missing from ``pg_authid`` (not replayed yet on a replica) or without a SCRAM verifier
fails the state, naming the user: with ``retry`` the state waits for replication.

.. code-block:: yaml

    pgbouncer-userlist-managed:
      pigsalt_pgbouncer.userlist_managed:
        - name: /etc/pgbouncer/userlist.txt
        - users: [dbuser_monitor, test]
        - retry: {attempts: 10, interval: 3}
"""

from __future__ import annotations

import grp
import pwd
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Modules, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import AgentError, files, psql, quoting, roles, scram
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_pgbouncer"

MODE = 0o600
PSQL_TIMEOUT = 60
_LINE = re.compile(r'^"((?:[^"]|"")*)"\s+"((?:[^"]|"")*)"')


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _render(passwords: dict[str, str]) -> str:
    """The auth file for ``{user: verifier}``: one ``"user" "verifier"`` line per user, sorted."""
    return "".join(f"{_quote(user)} {_quote(passwords[user])}\n" for user in sorted(passwords))


def _parse(text: str | None) -> dict[str, str]:
    """``{user: password}`` of an auth file (lines that are not ``"user" "password"`` are skipped)."""
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        match = _LINE.match(line.strip())
        if match:
            found[match.group(1).replace('""', '"')] = match.group(2).replace('""', '"')
    return found


def _diff(path: Path, wanted: dict[str, str], owner: tuple[int, int]) -> dict[str, Any]:
    """Names only: ``users``, ``passwords``; then ``exists``, ``layout``, ``mode``, ``owner``."""
    found = files.Found.read(path)
    data, mode, text = found.data, found.mode, found.text
    have = _parse(text)
    diff: dict[str, Any] = {}
    if data is None:
        diff["exists"] = {"old": False, "new": True}
    if sorted(have) != sorted(wanted):
        diff["users"] = {"old": sorted(have), "new": sorted(wanted)}
    changed = sorted(user for user in wanted if user in have and have[user] != wanted[user])
    if changed:
        diff["passwords"] = {"old": "(set)", "new": f"changed for {', '.join(changed)}"}
    if data is not None and not diff and text != _render(wanted):
        diff["layout"] = {"old": "not as pigsalt writes it", "new": "one sorted line per user"}
    if mode is not None and mode != MODE:
        diff["mode"] = {"old": f"{mode:04o}", "new": f"{MODE:04o}"}
    if found.uid is not None and found.gid is not None and (found.uid, found.gid) != owner:
        diff["owner"] = {"old": files.owner_name(found.uid, found.gid), "new": files.owner_name(*owner)}
    return diff


def _verifiers(users: list[str], dbsu: str, port: int) -> dict[str, str]:
    """``{user: verifier}`` from the local ``pg_authid``; ``AgentError`` naming a user that has none."""
    run = psql.salt_runner(__salt__["cmd.run_all"], dbsu)
    try:
        stdout = psql.Psql(run, port=int(port), timeout=PSQL_TIMEOUT).query(roles.read_passwords_sql(users))
    except psql.PsqlError as err:
        raise AgentError(f"cannot read pg_authid: {quoting.scrub(str(err))}") from err
    found = {row["name"]: row["password"] for row in quoting.parse_rows(stdout)}
    problems = []
    for user in sorted(set(users)):
        if user not in found:
            problems.append(f"user {user} is not in pg_authid on this instance yet (replication lag?)")
        elif scram.parse(found[user]) is None:
            problems.append(f"user {user} has no SCRAM password")
    if problems:
        raise AgentError("; ".join(problems))
    return {user: str(found[user]) for user in set(users)}


def _count(users: dict[str, str]) -> str:
    return f"{len(users)} user{'' if len(users) == 1 else 's'}"


def _reload() -> str:
    try:
        __salt__["pgbouncer.reload"]()
    except CommandExecutionError as err:
        if files.NOT_RUNNING.search(str(err)):
            return "written; pgbouncer is not running, it reads the file when it starts"
        raise AgentError(f"written, but pgbouncer did not reload: {quoting.scrub(str(err))}") from err
    return "written and pgbouncer reloaded"


def userlist_managed(
    name: str,
    users: list[str],
    dbsu: str = "postgres",
    port: int = 5432,
    user: str = "postgres",
    group: str = "postgres",
    peer_users: list[str] | None = None,
) -> dict[str, Any]:
    """Pgbouncer auth file ``name`` lists ``users`` with their SCRAM verifiers from the local Postgres.

    ``peer_users`` (the dbsu, for the admin console over the local socket) are listed with an
    empty password: Pgbouncer 1.18 wants every user in its auth file even for ``peer``, and it
    never accepts an empty password for a password method, so they can only log in by ``peer``.

    Read as ``dbsu`` on ``port``; written mode 0600, owned by ``user``:``group``; then ``RELOAD``
    (never a restart). ``changes`` names users, never their verifiers.
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": False, "comment": ""}
    path = Path(name)
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        ret["comment"] = f"{name}: users must be a list of user names"
        return ret
    try:
        owner = (pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    except KeyError as err:
        # A dry run before the first deploy: the package that creates the owner has not run yet.
        ret["result"] = None if __opts__["test"] else False
        tail = "; would write it once it exists" if __opts__["test"] else ""
        ret["comment"] = f"{name}: no such user or group: {err}{tail}"
        return ret
    try:
        wanted = {**dict.fromkeys(peer_users or [], ""), **(_verifiers(users, dbsu, port) if users else {})}
    except AgentError as err:
        # In a dry run Postgres may not be there yet: this run would start it before the file.
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name}: {err}"
        return ret
    diff = _diff(path, wanted, owner)
    if not diff:
        ret["result"] = True
        ret["comment"] = f"{name}: already in the desired state"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = diff
        ret["comment"] = f"{name}: would write {_count(wanted)}"
        return ret
    before = files.Found.read(path)
    try:
        files.write(path, _render(wanted).encode("utf-8"), MODE, *owner)
    except OSError as err:
        ret["comment"] = f"{name}: cannot write: {err}"
        return ret
    try:
        done = _reload()
    except AgentError as err:
        # Put the old file back: left in place, the next run (or retry) would find nothing to do
        # and Pgbouncer would never load it.
        files.restore(path, before)
        ret["comment"] = f"{name}: {err}; the previous file is back in place"
        return ret
    ret["changes"] = diff
    left = _diff(path, wanted, owner)
    if left:
        ret["comment"] = f"{name}: still differs after writing: {', '.join(sorted(left))}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{name}: {done} ({_count(wanted)})"
    return ret
