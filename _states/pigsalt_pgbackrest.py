"""State module ``pigsalt_pgbackrest``: a cluster's stanza in the repository and its first full
backup (``pigsalt.agent.pgbackrest``).

Both act on the member Patroni says leads (every member runs them, as pgsql.users does): the
primary is where pgBackRest backs up from and where ``stanza-create`` reads the database's
system identifier. A converged cluster costs one ``pgbackrest info`` (one TLS session to the
repository's server).

.. code-block:: yaml

    pgbackrest-stanza-present:
      pigsalt_pgbackrest.stanza_present:
        - name: pg-test
        - config: /etc/pgbackrest/pgbackrest.conf

    pgbackrest-full-backup-present:
      pigsalt_pgbackrest.backup_present:
        - name: pg-test
        - config: /etc/pgbackrest/pgbackrest.conf
"""

from __future__ import annotations

from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # A module, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import AgentError
    from pigsalt.agent import pgbackrest as agent
except ImportError as err:  # __virtual__ says so
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__opts__: dict[str, Any]
__salt__: dict[str, Any]

__virtualname__ = "pigsalt_pgbackrest"


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING:
        return False, f"pigsalt is not installed in this minion's Python: {_MISSING}"
    return __virtualname__


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _leader_gate(name: str) -> dict[str, Any] | None:
    """A finished return on a replica (or when the leader cannot be told); None on the leader."""
    ret = _ret(name)
    try:
        leader = __salt__["patroni.is_leader"]()
    except CommandExecutionError as err:
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name}: cannot tell whether this instance is the Patroni leader: {err}"
        return ret
    if not leader:
        ret["comment"] = f"{name}: this instance is a replica; the stanza and backups are the primary's"
        return ret
    return None


def stanza_present(name: str, config: str, user: str = "postgres") -> dict[str, Any]:
    """The repository holds stanza ``name`` (``stanza-create`` on the leader when it does not)."""
    gate = _leader_gate(name)
    if gate is not None:
        return gate
    ret = _ret(name)
    stanza = agent.Stanza(config, name, user)
    try:
        if agent.stanza_exists(stanza):
            ret["comment"] = f"stanza {name} is in the repository"
            return ret
        ret["changes"] = {"stanza": {"old": None, "new": name}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"stanza {name} would be created")
            return ret
        agent.create_stanza(stanza)
    except AgentError as err:
        ret.update(result=False, changes={}, comment=str(err))
        return ret
    ret["comment"] = f"stanza {name} created"
    return ret


def backup_present(name: str, config: str, user: str = "postgres") -> dict[str, Any]:
    """Stanza ``name`` has a backup without error; a full backup is taken on the leader when it
    has none (a new cluster's first minute: pgbackrest_init_backup)."""
    gate = _leader_gate(name)
    if gate is not None:
        return gate
    ret = _ret(name)
    stanza = agent.Stanza(config, name, user)
    try:
        good = [b for b in agent.backups(stanza) if not b.get("error")]
        if good:
            ret["comment"] = f"{name} has {len(good)} backups, the newest {good[-1].get('label')}"
            return ret
        ret["changes"] = {"backup": {"old": None, "new": "full"}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"{name} has no backup: a full backup would be taken")
            return ret
        made = agent.backup(stanza, "full")
    except AgentError as err:
        ret.update(result=False, changes={}, comment=str(err))
        return ret
    ret["changes"] = {"backup": {"old": None, "new": made.get("label")}}
    ret["comment"] = f"{name}: full backup {made.get('label')} taken"
    return ret
