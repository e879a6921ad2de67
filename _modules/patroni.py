"""Execution module ``patroni``: this node's Patroni, through its REST API.

A thin layer over ``pigsalt.agent.patroni``: it reads the address and the REST credentials
from the ``pigsty`` pillar, calls the typed client and turns its errors into
``CommandExecutionError``. Reads go out without credentials; restart, reload, switchover and
configuration changes carry them. No return value or message holds the password.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Imported as modules, not functions: Salt would publish an imported function as ours.
    from pigsalt.agent import AgentError
    from pigsalt.agent import patroni as agent
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__pillar__: dict[str, Any]
__salt__: dict[str, Any]

__virtualname__ = "patroni"

log = logging.getLogger(__name__)


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _pg() -> dict[str, Any]:
    pg = (__pillar__.get("pigsty") or {}).get("pg")
    if not pg:
        raise CommandExecutionError("this node holds no Postgres instance")
    return dict(pg)


def _client(host: str | None = None) -> agent.PatroniClient:
    """This node's Patroni, or another member's (``host``): one cluster shares its REST credentials."""
    patroni = _pg()["patroni"]
    node = __pillar__["pigsty"]["node"]
    return agent.PatroniClient(
        f"https://{host or node['ip']}:{patroni['port']}",
        patroni.get("username"),
        patroni.get("password"),
        cafile=__pillar__["pigsty"]["tls"]["ca_cert"],
    )


def _member_host(name: str) -> str:
    for member in _client().cluster().members:
        if member.name == name and member.host:
            return member.host
    raise CommandExecutionError(f"{name} is not a member of this cluster")


def status() -> dict[str, Any]:
    """This node as its Patroni sees it: name, role, state, pending_restart, timeline,
    postmaster_start_time, server_version.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.status
    """
    try:
        return dataclasses.asdict(_client().node())
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def api_scheme() -> dict[str, Any]:
    """How this node's Patroni serves its REST API now: ``{"scheme": "https"}`` when it answers
    over TLS with a certificate of the local CA, ``"http"`` when it still answers in clear (a
    configuration from before pigsalt's TLS, not reloaded yet), ``None`` with the reason when it
    answers neither way (not running, or a certificate the CA did not sign).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.api_scheme
    """
    try:
        _client().node()
        return {"scheme": "https", "error": None}
    except AgentError as err:
        failure = str(err)
    patroni = _pg()["patroni"]
    plain = agent.PatroniClient(f"http://{__pillar__['pigsty']['node']['ip']}:{patroni['port']}", None, None)
    try:
        plain.node()  # a read: no credentials go out in clear
    except AgentError:
        return {"scheme": None, "error": failure}
    return {"scheme": "http", "error": failure}


def role() -> str:
    """This node's Postgres role: ``primary``, ``replica``, ``standby_leader`` (or Patroni's word for
    a transient role, such as ``demoted``).

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.role
    """
    return str(status()["role"])


def hba_role() -> str:
    """The role whose HBA rules apply to this node now: ``primary`` (primary or standby leader) or
    ``replica``.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:pgsql' patroni.hba_role
    """
    return agent.role_for_hba(role())


def cluster() -> dict[str, Any]:
    """The cluster as the DCS describes it: ``{"leader": name or None, "members": [...]}``, each
    member with name, role, state, host, port, lag (bytes, None when unknown), timeline and
    pending_restart.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.cluster
    """
    try:
        found = _client().cluster()
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"leader": found.leader, "members": [dataclasses.asdict(m) for m in found.members]}


def leader() -> str:
    """The name of the member holding the leader lock; an error when there is none.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.leader
    """
    name = cluster()["leader"]
    if name is None:
        raise CommandExecutionError("the cluster has no leader")
    return str(name)


def is_leader() -> bool:
    """Whether this node (the pillar's instance) holds the leader lock.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:pgsql' patroni.is_leader
    """
    instance = _pg()["instance"]
    return bool(cluster()["leader"] == instance)


def members() -> list[dict[str, Any]]:
    """The cluster's members, as in ``patroni.cluster``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.members
    """
    return list(cluster()["members"])


def pending_restart() -> bool:
    """Whether Postgres on this node waits for a restart to apply a changed parameter.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:pgsql' patroni.pending_restart
    """
    return bool(status()["pending_restart"])


def reload() -> dict[str, Any]:
    """Have Patroni re-read its configuration file and reload Postgres: ``{"reloaded": True}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.reload
    """
    try:
        _client().reload()
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"reloaded": True}


def restart(pending: bool = False, timeout: float = 120) -> dict[str, Any]:
    """Restart Postgres on this node through Patroni, and wait for it (up to ``timeout`` seconds).

    With ``pending=True`` the restart happens only if one is pending: ``{"restarted": False}``
    when none is, ``{"restarted": True}`` otherwise.

    CLI Example:

    .. code-block:: bash

        salt pg-test-2 patroni.restart
        salt -G 'roles:pgsql' patroni.restart pending=True
    """
    client = _client()
    try:
        if pending and not client.node().pending_restart:
            return {"restarted": False}
        client.restart(pending_only=bool(pending), timeout=float(timeout))
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"restarted": True}


def switchover(candidate: str | None = None, timeout: float = 120) -> dict[str, Any]:
    """Hand the leader lock to ``candidate`` (Patroni picks the best replica when not given), then
    wait up to ``timeout`` seconds for the new leader to run: ``{"old": name, "new": name}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.switchover
        salt pg-test-1 patroni.switchover candidate=pg-test-2 timeout=60
    """
    client = _client()
    try:
        old = client.cluster().leader
        if old is None:
            raise CommandExecutionError("the cluster has no leader to switch over from")
        message = client.switchover(old, candidate)
        log.info("patroni.switchover from %s: %s", old, message)
        new = client.wait_leader(expect=candidate, not_=old, timeout=float(timeout))
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"old": old, "new": new}


def config() -> dict[str, Any]:
    """The cluster's dynamic configuration, as stored in the DCS.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.config
    """
    try:
        return _client().config()
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def patch_config(changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the cluster's dynamic configuration (a ``null`` value removes a key);
    returns the new configuration.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.patch_config '{"loop_wait": 10, "postgresql": {"parameters": {"work_mem": "8MB"}}}'
    """
    if not isinstance(changes, dict) or not changes:
        raise CommandExecutionError("changes must be a non-empty mapping")
    try:
        return _client().patch_config(changes)
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err


def reload_all() -> dict[str, Any]:
    """Have every member's Patroni reload now (after a change of the dynamic configuration, so
    that none waits for its next HA loop): ``{"reloaded": [names]}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.reload_all
    """
    try:
        members = _client().cluster().members
        for member in members:
            if member.host:
                _client(member.host).reload()
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"reloaded": sorted(m.name for m in members if m.host)}


def restart_member(name: str, timeout: float = 120) -> dict[str, Any]:
    """Restart member ``name``'s Postgres through its Patroni if a restart is pending there:
    ``{"restarted": bool}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.restart_member pg-test-2
    """
    try:
        client = _client(_member_host(name))
        if not client.node().pending_restart:
            return {"restarted": False}
        client.restart(pending_only=True, timeout=float(timeout))
    except AgentError as err:
        raise CommandExecutionError(str(err)) from err
    return {"restarted": True}


# pgsql.install's Patroni venv and configuration.
PATRONICTL = "/opt/pigsalt/patroni/bin/patronictl"
PATRONI_CONFIG = "/etc/patroni/patroni.yml"


def remove_cluster() -> dict[str, Any]:
    """Remove this member's cluster from the DCS (``patronictl remove``: the leader, members,
    history and the ``initialize`` key), with Patroni stopped here. patronictl refuses while a
    member holds the leader lock: stop every member's Patroni first. The next Patroni to start
    adopts its own data directory as the cluster's (a step of ``pigsty.restore``):
    ``{"removed": cluster}``.

    CLI Example:

    .. code-block:: bash

        salt pg-test-1 patroni.remove_cluster
    """
    pg = _pg()
    if __salt__["service.status"]("patroni"):
        raise CommandExecutionError("Patroni runs on this member: stop it on every member first")
    cluster = pg["cluster"]
    done = __salt__["cmd.run_all"](
        [PATRONICTL, "-c", PATRONI_CONFIG, "remove", cluster],
        runas=pg.get("dbsu", "postgres"),
        stdin=f"{cluster}\nYes I am aware\n",
        python_shell=False,
        output_loglevel="quiet",
        timeout=60,
    )
    if done["retcode"] != 0:
        lines = [line for line in str(done.get("stderr") or done.get("stdout") or "").splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"exit {done['retcode']}"
        raise CommandExecutionError(f"patronictl remove {cluster}: {why}")
    return {"removed": cluster}
