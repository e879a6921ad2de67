"""State module ``pigsalt_pg``: Postgres roles, databases and default privileges as the inventory
describes them.

All states act only on the instance Patroni says is the leader: every member runs them, the
replicas report that they are replicas and change nothing, so the roles and databases land on
the current primary whichever member it is (never on the inventory's idea of the primary).

On the leader they follow the four steps: read (``psql`` as the database superuser over the
Unix socket, the SQL on standard input), diff, report or apply, read again. A password is sent
as a SCRAM verifier computed on the minion, never as plaintext; ``changes`` and comments never
hold a password or a verifier.

.. code-block:: yaml

    pgsql-role-test-present:
      pigsalt_pg.role_present:
        - name: test
        - password: test
        - login: true
        - roles: [dbrole_admin]
        - dbsu: postgres
        - port: 5432

    pgsql-database-test-present:
      pigsalt_pg.database_present:
        - name: test
        - owner: test
        - extensions: [pg_trgm]

    pgsql-bootstrap-sql-managed:
      pigsalt_pg.bootstrap_sql_managed:
        - name: /etc/patroni/bootstrap.sql
        - users: {replicator: {name: replicator, password: ...}, admin: ..., monitor: ...}
        - dbsu: postgres

    pgsql-database-test-default-privileges:
      pigsalt_pg.default_privileges_present:
        - name: test
        - owners: [postgres, dbuser_dba]
        - grants: ["GRANT SELECT ON TABLES TO dbrole_readonly"]
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Modules, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import AgentError, bootstrap, databases, files, privileges, psql, quoting, roles
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]
__context__: dict[str, Any]

__virtualname__ = "pigsalt_pg"

PSQL_TIMEOUT = 60
ROLES_KEY = "pigsalt_pg.roles"
BOOTSTRAP_MODE = 0o600


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _psql(dbsu: str, port: int) -> psql.Psql:
    """psql as ``dbsu`` on ``port``, run by Salt (each call with ``PSQL_TIMEOUT``)."""
    return psql.Psql(psql.salt_runner(__salt__["cmd.run_all"], dbsu), port=int(port), timeout=PSQL_TIMEOUT)


def _runner(dbsu: str, port: int) -> Callable[[str, str], str]:
    """Runs a script in a database: ``run(dbname, script)``, for ``_converge``; the roles read
    earlier in this run are read again after it (``_roles``)."""

    def run(dbname: str, script: str) -> str:
        __context__.pop(f"{ROLES_KEY}:{port}", None)
        return _psql(dbsu, port).query(script, dbname)

    return run


def _roles(dbsu: str, port: int) -> dict[str, dict[str, Any]]:
    """Every role as ``read_roles_sql`` reads it, once per state run until a script runs: a run
    checks a dozen roles, and each psql costs ~70 ms of the node's CPU. (The rows hold password
    verifiers: kept in this run's memory only, never returned.)"""
    key = f"{ROLES_KEY}:{port}"
    if key not in __context__:
        __context__[key] = roles.parse_roles(_psql(dbsu, port).query(roles.read_roles_sql(None)))
    found: dict[str, dict[str, Any]] = __context__[key]
    return found


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _is_leader() -> bool:
    """Whether Patroni says this instance leads, asked once per state run: a run applies a dozen
    roles and databases, and each question is a request to Patroni (its answer cannot change the
    outcome within the run: a write after a demotion fails on the read-only replica)."""
    key = "pigsalt_pg.is_leader"
    if key not in __context__:
        __context__[key] = bool(__salt__["patroni.is_leader"]())
    return bool(__context__[key])


def _leader_gate(name: str) -> dict[str, Any] | None:
    """A finished return when this instance must not apply anything; None on the leader."""
    ret = _ret(name)
    try:
        leader = _is_leader()
    except CommandExecutionError as err:
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name}: cannot tell whether this instance is the Patroni leader: {err}"
        return ret
    if not leader:
        ret["comment"] = f"{name}: this instance is a replica; roles and databases are applied on the Patroni leader"
        return ret
    return None


def _spec_entry(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The state's keyword arguments as a pillar entry (without Salt's own ``__`` keywords)."""
    return {"name": name, **{k: v for k, v in spec.items() if not k.startswith("__")}}


def _summary(diff: Mapping[str, Any]) -> str:
    return ", ".join(sorted(diff))


def _applied(diff: Mapping[str, Any], read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The keys of ``diff`` that no longer differ after a failure (best effort: none if unreadable)."""
    try:
        left = read()
    except (psql.PsqlError, AgentError):
        return {}
    return {key: change for key, change in diff.items() if key not in left}


def _converge(
    name: str,
    read: Callable[[], dict[str, Any]],
    scripts: Callable[[dict[str, Any]], list[tuple[str, str]]],
    run: Callable[[str, str], str],
    secrets: list[str | None],
) -> dict[str, Any]:
    """The four steps: ``read`` gives the diff, ``scripts`` turns it into [(dbname, sql)], ``run`` runs one."""
    ret = _ret(name)
    try:
        diff = read()
    except psql.PsqlError as err:
        ret["result"] = False
        ret["comment"] = f"{name}: cannot read it: psql failed: {quoting.scrub(str(err), secrets)}"
        return ret
    except AgentError as err:
        ret["result"] = False
        ret["comment"] = f"{name}: {quoting.scrub(str(err), secrets)}"
        return ret
    if not diff:
        ret["comment"] = f"{name}: already in the desired state"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = diff
        ret["comment"] = f"{name}: would create" if "exists" in diff else f"{name}: would change {_summary(diff)}"
        return ret
    todo = scripts(diff)
    for step, (dbname, script) in enumerate(todo, start=1):
        try:
            run(dbname, script)
        except psql.PsqlError as err:
            ret["result"] = False
            ret["changes"] = _applied(diff, read)
            where = f" (step {step} of {len(todo)}, in database {dbname})" if len(todo) > 1 else ""
            ret["comment"] = f"{name}: psql failed{where}: {quoting.scrub(str(err), secrets)}"
            return ret
    ret["changes"] = diff
    try:
        left = read()
    except (psql.PsqlError, AgentError) as err:
        ret["result"] = False
        ret["comment"] = f"{name}: applied, but cannot read it back: {quoting.scrub(str(err), secrets)}"
        return ret
    if left:
        ret["result"] = False
        ret["comment"] = f"{name}: still differs after applying: {_summary(left)}"
        return ret
    ret["comment"] = f"{name}: created" if "exists" in diff else f"{name}: changed {_summary(diff)}"
    return ret


def bootstrap_sql_managed(name: str, users: Mapping[str, Mapping[str, str]], dbsu: str = "postgres") -> dict[str, Any]:
    """The post_bootstrap script at ``name`` creates the system ``users`` with SCRAM verifiers of
    their passwords (owner ``dbsu``, 0600). Rewritten only when a password or a name changed: a
    verifier that still matches is kept, so a rerun changes nothing."""
    ret = _ret(name)
    path = Path(name)
    old = files.Found.read(path)
    try:
        text = bootstrap.render(users, old.text)
        entry = pwd.getpwnam(dbsu)
    except KeyError as err:
        # A dry run before the first deploy: the package that creates the dbsu has not run yet.
        testing = __opts__["test"]
        tail = "; would be written once it exists" if testing else ""
        ret.update(result=None if testing else False, comment=f"{name}: no such user: {err}{tail}")
        return ret
    except AgentError as err:
        secrets = [u.get("password") for u in users.values()]
        ret.update(result=False, comment=f"{name}: {quoting.scrub(str(err), secrets)}")
        return ret
    wanted = (text.encode("utf-8"), BOOTSTRAP_MODE, entry.pw_uid, entry.pw_gid)
    if (old.data, old.mode, old.uid, old.gid) == wanted:
        ret["comment"] = f"{name}: up to date"
        return ret
    ret["changes"] = {"bootstrap.sql": "written (verifiers not shown)"}
    if __opts__["test"]:
        ret.update(result=None, comment=f"{name}: would be written")
        return ret
    files.write(path, *wanted)
    ret["comment"] = f"{name}: written"
    return ret


def role_present(
    name: str, dbsu: str = "postgres", port: int = 5432, force: bool = False, **spec: Any
) -> dict[str, Any]:
    """Role ``name`` exists with the attributes, memberships, settings and password of ``spec``.

    ``spec`` takes the keys of a pillar user entry (``password``, ``login``, ``superuser``,
    ``createdb``, ``createrole``, ``inherit``, ``replication``, ``bypassrls``, ``connlimit``,
    ``expire_at``, ``expire_in``, ``comment``, ``roles``, ``parameters``; Pgbouncer's keys are
    ignored). Without ``password`` the password is never touched. Memberships are only granted;
    ``force`` also revokes the ones ``roles`` does not list.
    """
    password = spec.get("password")
    secrets = [password if isinstance(password, str) else None]
    try:
        role = roles.RoleSpec.from_pillar(_spec_entry(name, spec))
    except AgentError as err:
        return {**_ret(name), "result": False, "comment": f"{name}: {quoting.scrub(str(err), secrets)}"}
    gate = _leader_gate(name)
    if gate is not None:
        return gate

    def read() -> dict[str, Any]:
        current = _roles(dbsu, port).get(name)
        return roles.role_diff(current, role, force=force)

    def scripts(diff: dict[str, Any]) -> list[tuple[str, str]]:
        return [(psql.MAINTENANCE_DB, roles.role_sql(role, diff))]

    return _converge(name, read, scripts, _runner(dbsu, port), secrets)


def database_present(name: str, dbsu: str = "postgres", port: int = 5432, **spec: Any) -> dict[str, Any]:
    """Database ``name`` exists with the owner, attributes, settings, schemas and extensions of ``spec``.

    ``spec`` takes the keys of a pillar database entry. Encoding, collation, ctype and
    tablespace are only used to create it: if an existing database differs, the state fails
    (they cannot change in place). Schemas and extensions are only added. The schemas and
    extensions of a database that refuses connections (``allowconn: false``) are not checked.
    """
    try:
        database = databases.DatabaseSpec.from_pillar(_spec_entry(name, spec), dbsu=dbsu)
    except AgentError as err:
        return {**_ret(name), "result": False, "comment": f"{name}: {err}"}
    gate = _leader_gate(name)
    if gate is not None:
        return gate

    def read() -> dict[str, Any]:
        current = databases.parse_databases(_psql(dbsu, port).query(databases.read_database_sql(name))).get(name)
        objects = None
        if current is not None and current["allowconn"]:
            objects = databases.parse_objects(_psql(dbsu, port).query(databases.read_objects_sql(), name))
        return databases.database_diff(current, database, objects)

    def scripts(diff: dict[str, Any]) -> list[tuple[str, str]]:
        return [(s.dbname, s.sql) for s in databases.database_sql(database, diff)]

    return _converge(name, read, scripts, _runner(dbsu, port), [])


def default_privileges_present(
    name: str, owners: list[str], grants: list[str], dbsu: str = "postgres", port: int = 5432
) -> dict[str, Any]:
    """Database ``name`` holds, for each of ``owners``, the default privileges of ``grants``.

    ``grants`` are Pigsty's lines (``GRANT SELECT ON TABLES TO dbrole_readonly``); each becomes
    ``ALTER DEFAULT PRIVILEGES FOR ROLE <owner> GRANT …`` in that database. Only added: a
    privilege no longer listed is left in place.
    """
    try:
        wanted = [privileges.Grant.parse(line) for line in grants]
    except AgentError as err:
        return {**_ret(name), "result": False, "comment": f"{name}: {err}"}
    gate = _leader_gate(name)
    if gate is not None:
        return gate

    def read() -> dict[str, Any]:
        rows = quoting.parse_rows(_psql(dbsu, port).query(privileges.read_sql(owners), name))
        lacking = privileges.missing(rows, owners, wanted)
        return {"default_privileges": {"old": None, "new": lacking}} if lacking else {}

    def scripts(diff: dict[str, Any]) -> list[tuple[str, str]]:
        return [(name, privileges.grant_sql(diff["default_privileges"]["new"]))]

    return _converge(name, read, scripts, _runner(dbsu, port), [])
