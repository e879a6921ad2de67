"""State module ``pigsalt_patroni``: facts about this member's place in its Patroni cluster.

``joined`` holds (and changes nothing) until Patroni's ``/cluster`` shows a running leader and
this member either is that leader or streams from it. It asks Patroni who leads, so it is
right after a failover too, when the inventory's ``pg_role`` no longer says who the primary is.

.. code-block:: yaml

    checks-patroni-joined:
      pigsalt_patroni.joined:
        - name: pg-test-2
        - timeout: 180
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salt.exceptions import CommandExecutionError

try:
    # Modules, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import psql, quoting
except ImportError as err:  # the states that need it say so when called
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_patroni"

PARAMETER = "postgresql.parameters."
FLAG_POLL = 1.0  # seconds between two looks at /cluster while restarts are being flagged


def __virtual__() -> str | tuple[bool, str]:
    if "patroni.cluster" not in __salt__:
        return False, "the patroni execution module is not available (saltutil.sync_all; pigsalt installed?)"
    return __virtualname__


def _look(name: str) -> tuple[bool, str]:
    """Whether ``name`` has joined, and what was seen."""
    try:
        cluster = __salt__["patroni.cluster"]()
    except CommandExecutionError as err:
        return False, str(err)
    members = {m["name"]: m for m in cluster["members"]}
    leader = cluster["leader"]
    if leader is None or members.get(leader, {}).get("state") != "running":
        return False, f"no running leader (members: {_summary(members)})"
    if name == leader:
        return True, f"{name} leads ({_summary(members)})"
    member = members.get(name)
    if member is None:
        return False, f"{name} is not a member yet (members: {_summary(members)})"
    if member["state"] != "streaming":
        return False, f"{name} is {member['state']}, not streaming from {leader}"
    return True, f"{name} streams from {leader} (lag {member['lag']})"


def _summary(members: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{n} {m['role']}/{m['state']}" for n, m in sorted(members.items())) or "none"


def joined(name: str, timeout: float = 180, interval: float = 1) -> dict[str, Any]:
    """Hold until member ``name`` leads its cluster or streams from the running leader."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    testing = __opts__["test"]
    start = time.monotonic()
    while True:
        ok, seen = _look(name)
        elapsed = round(time.monotonic() - start, 1)
        if ok:
            ret["comment"] = f"{seen}; after {elapsed} s"
            return ret
        if testing:
            ret["result"] = None
            ret["comment"] = f"not joined yet: {seen}"
            return ret
        if elapsed >= float(timeout):
            ret["result"] = False
            ret["comment"] = f"{name} has not joined its cluster after {timeout} s (last: {seen})"
            return ret
        time.sleep(float(interval))


# --- installed from the wheelhouse ----------------------------------------------------------


def _installed_version(venv: Path) -> str | None:
    """The Patroni version whose metadata the virtualenv ``venv`` holds, None when none."""
    found = sorted(venv.glob("lib/python3*/site-packages/patroni-*.dist-info"))
    return found[-1].name[len("patroni-") : -len(".dist-info")] if found else None


def _run(argv: list[str], what: str) -> None:
    done = __salt__["cmd.run_all"](argv, python_shell=False, timeout=900, ignore_retcode=True)
    if done["retcode"] != 0:
        said = (done["stderr"] or done["stdout"]).strip().splitlines()
        raise CommandExecutionError(f"{what}: {said[-1] if said else 'exit ' + str(done['retcode'])}")


def installed(
    name: str, version: str, requirements: list[str], repo: str, keyring: str, python: str = "python3"
) -> dict[str, Any]:
    """Patroni ``version`` in the virtualenv ``name``, with ``requirements``, from the offline
    repository's wheelhouse checked against its signed hashes (``pigsalt.agent.wheels``).

    The virtualenv has no pip of its own (``python3 -m venv --without-pip``: ensurepip costs ~10 s
    of CPU per node); the minion's pip installs into it. A state of its own rather than
    ``cmd.run`` with ``creates``/``unless``: in Salt 3008 the first such requisite of a state
    run loads every state and execution module (~1.2 s), on every run that includes
    pgsql.install, converged or not.

    .. code-block:: yaml

        pgsql-patroni-installed:
          pigsalt_patroni.installed:
            - name: /opt/pigsalt/patroni
            - version: 4.1.5
            - requirements: ['patroni[etcd3]==4.1.5', 'psycopg[binary]']
            - repo: http://repo.pigsty/pypi
            - keyring: /etc/apt/keyrings/pigsalt-archive-keyring.gpg
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    venv = Path(name)
    have = _installed_version(venv)
    if have == version:
        ret["comment"] = f"Patroni {version} is installed in {name}"
        return ret
    ret["changes"] = {"patroni": {"old": have, "new": version}}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Patroni {version} would be installed in {name}"
        return ret
    try:
        if not (venv / "bin" / "python").exists():
            _run([python, "-m", "venv", "--without-pip", name], f"{python} -m venv {name}")
        argv = [sys.executable, "-m", "pigsalt.agent.wheels", "--repo", repo, "--keyring", keyring]
        _run([*argv, "--python", str(venv / "bin" / "python"), *requirements], "pigsalt.agent.wheels")
    except CommandExecutionError as err:
        ret.update(result=False, changes={}, comment=str(err))
        return ret
    now = _installed_version(venv)
    if now != version:
        ret.update(result=False, comment=f"{name} holds Patroni {now} after the install, not {version}")
        return ret
    ret["comment"] = f"Patroni {version} installed in {name}"
    return ret


# --- the REST API over TLS -------------------------------------------------------------------


def restapi_tls(name: str, timeout: float = 30, interval: float = 1) -> dict[str, Any]:
    """Have this node's running Patroni serve its REST API over TLS, as its configuration says.

    A Patroni started before pigsalt's TLS answers in clear until it re-reads patroni.yml: this
    reloads it (SIGHUP; Postgres is not restarted) and holds until the API answers over HTTPS
    with a certificate of the local CA. Run right after the configuration file, before anything
    asks Patroni (the HBA role), and in ``pigsty.cluster`` on every member at once, followed by
    HAProxy, so that the members' health checks change scheme within seconds of each other.
    A Patroni that answers neither way (not started yet) is left alone: it starts with TLS.
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    seen = __salt__["patroni.api_scheme"]()
    if seen["scheme"] == "https":
        ret["comment"] = "Patroni's REST API answers over TLS"
        return ret
    if seen["scheme"] is None:
        ret["comment"] = f"Patroni does not answer (it starts with TLS): {seen['error']}"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = "Patroni's REST API answers in clear: it would be reloaded to serve TLS"
        ret["changes"] = {"restapi": {"old": "http", "new": "https"}}
        return ret
    __salt__["service.reload"]("patroni")
    start = time.monotonic()
    while time.monotonic() - start < float(timeout):
        time.sleep(float(interval))
        seen = __salt__["patroni.api_scheme"]()
        if seen["scheme"] == "https":
            elapsed = round(time.monotonic() - start, 1)
            ret["changes"] = {"restapi": {"old": "http", "new": "https"}}
            ret["comment"] = f"Patroni reloaded: its REST API answers over TLS after {elapsed} s"
            return ret
    ret["result"] = False
    ret["comment"] = (
        f"Patroni was reloaded but its REST API does not answer over TLS after {timeout} s "
        f"(answers: {seen['scheme'] or 'none'}; last error: {seen['error']})"
    )
    return ret


# --- the dynamic configuration and the restarts it may need ---------------------------------

ROLL_ROUNDS = 3


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, path + "."))
        else:
            flat[path] = value
    return flat


def _same(want: Any, have: Any) -> bool:
    """Patroni keeps what it was given; Postgres settings may come back as other types (100 / "100")."""
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(want == have)
    return bool(want == have) or str(want) == str(have)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _skip_unless_leader(name: str, ret: dict[str, Any]) -> bool:
    try:
        leads = __salt__["patroni.is_leader"]()
    except CommandExecutionError as err:
        # In a dry run Patroni may not be started yet (this run would start it).
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name}: cannot ask Patroni who leads: {err}"
        return True
    if not leads:
        ret["comment"] = f"{name}: this member is not the leader; the leader applies it"
        return True
    return False


def _needs_restart(names: list[str], dbsu: str, port: int) -> list[str]:
    """The Postgres settings among ``names`` that take a restart (``context = 'postmaster'``)."""
    if not names:
        return []
    if _MISSING is not None:
        raise CommandExecutionError(f"the pigsalt package is not importable in the minion's Python: {_MISSING}")
    script = quoting.query(
        "SELECT name FROM pg_settings WHERE context = 'postmaster' AND name IN ("
        + ", ".join(quoting.literal(n) for n in sorted(names))
        + ")"
    )
    run = psql.salt_runner(__salt__["cmd.run_all"], dbsu)
    try:
        stdout = psql.Psql(run, port=int(port)).query(script)
    except psql.PsqlError as err:
        raise CommandExecutionError(f"cannot read pg_settings: {err}") from err
    return sorted(str(row["name"]) for row in quoting.parse_rows(stdout))


def _await_flags(timeout: float) -> list[str]:
    """Wait until every member of the cluster flags ``pending_restart``; the members that did not."""
    deadline = time.monotonic() + timeout
    while True:
        members = __salt__["patroni.cluster"]()["members"]
        unflagged = sorted(m["name"] for m in members if not m.get("pending_restart"))
        if not unflagged or time.monotonic() >= deadline:
            return unflagged
        time.sleep(FLAG_POLL)


def config_applied(
    name: str,
    settings: dict[str, Any],
    settle: float = 0,
    flag_timeout: float = 120,
    dbsu: str = "postgres",
    port: int = 5432,
) -> dict[str, Any]:
    """Patroni's dynamic configuration (``/config`` in the DCS) holds ``settings``.

    Applied on the leader only (the others report that and change nothing); keys not in
    ``settings`` are left alone. After a change every member's Patroni is reloaded. When a
    changed Postgres setting takes a restart (``pg_settings.context`` on the leader, read as
    ``dbsu`` on ``port``), the state waits up to ``flag_timeout`` seconds until every member's
    HA loop has applied it and flags ``pending_restart``, which ``rolling_restarted`` then
    applies; otherwise it gives the members ``settle`` seconds.
    """
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    if _skip_unless_leader(name, ret):
        return ret
    want = _flat(settings)

    def diff() -> dict[str, dict[str, Any]]:
        have = _flat(__salt__["patroni.config"]())
        return {k: {"old": have.get(k), "new": v} for k, v in sorted(want.items()) if not _same(v, have.get(k))}

    try:
        changes = diff()
        if not changes:
            ret["comment"] = f"{name}: already in the desired state"
            return ret
        if __opts__["test"]:
            ret.update(result=None, changes=changes, comment=f"{name}: would change {', '.join(changes)}")
            return ret
        restart = _needs_restart([k[len(PARAMETER) :] for k in changes if k.startswith(PARAMETER)], dbsu, port)
        __salt__["patroni.patch_config"](_nest({k: v["new"] for k, v in changes.items()}))
        left = diff()
        unflagged: list[str] = []
        if not left:
            __salt__["patroni.reload_all"]()
            if restart:
                unflagged = _await_flags(float(flag_timeout))
            else:
                time.sleep(float(settle))
    except CommandExecutionError as err:
        ret.update(result=False, comment=f"{name}: {err}")
        return ret
    if left:
        ret.update(result=False, comment=f"{name}: still differs after PATCH /config: {', '.join(left)}")
        return ret
    comment = f"{name}: PATCH /config: {', '.join(changes)}"
    if restart:
        comment += f"; {', '.join(restart)} take a restart: " + (
            f"not flagged after {flag_timeout:g} s on {', '.join(unflagged)}" if unflagged else "every member flags it"
        )
    ret.update(changes=changes, comment=comment)
    return ret


def rolling_restarted(name: str, timeout: float = 180) -> dict[str, Any]:
    """No member of cluster ``name`` has a restart pending. Run on the leader (the others report
    that and change nothing); from there, through each member's Patroni: the replicas with a
    restart pending are restarted one at a time, each waited for until it streams again; then,
    if the leader has one, Patroni switches over to a replica, the old primary is waited for
    until it streams from the new leader, and restarted as a replica. The primary is never
    restarted in place."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    if _skip_unless_leader(name, ret):
        return ret
    done: dict[str, Any] = {}
    try:
        cluster = __salt__["patroni.cluster"]()
        pending = _pending(cluster)
        if not pending:
            ret["comment"] = f"{name}: no restart pending"
            return ret
        if __opts__["test"]:
            plan = {m: {"old": "pending restart", "new": "restarted"} for m in pending}
            if cluster["leader"] in pending:
                plan["leader"] = {"old": cluster["leader"], "new": "a replica"}
            ret.update(result=None, changes=plan, comment=f"{name}: would restart {', '.join(pending)}")
            return ret
        # Members flag a restart when their HA loop has applied the change, not all at once: a
        # flag that shows up during the roll gets another round (a member already restarted in
        # this run is not restarted again).
        for _ in range(ROLL_ROUNDS):
            todo = [m for m in pending if m not in done]
            if not todo:
                break
            leader = cluster["leader"]
            for member in [m for m in todo if m != leader]:
                _restart(member, timeout)
                done[member] = {"old": "pending restart", "new": "restarted"}
            if leader in todo:
                moved = __salt__["patroni.switchover"](timeout=timeout)
                done["leader"] = {"old": moved["old"], "new": moved["new"]}
                _restart(leader, timeout)
                done[leader] = {"old": "pending restart", "new": "restarted"}
            cluster = __salt__["patroni.cluster"]()
            pending = _pending(cluster)
        left = pending
    except CommandExecutionError as err:
        ret.update(result=False, changes=done, comment=f"{name}: {err}")
        return ret
    ret["changes"] = done
    restarted = sorted(m for m in done if m != "leader")
    if left:
        # Postgres requires a standby's max_connections, max_worker_processes, max_wal_senders,
        # max_prepared_transactions and max_locks_per_transaction to be at least the primary's:
        # a decrease only takes once the primary itself has restarted with it.
        ret.update(
            result=False,
            comment=f"{name}: restarted {', '.join(restarted)}, replicas first, but a restart is still pending on "
            f"{', '.join(left)}: lowering a setting a standby must hold at least at the primary's value takes a "
            "restart of the primary itself, which pigsalt does not do on its own "
            f"(salt <primary> patroni.restart, then re-run)",
        )
        return ret
    ret["comment"] = f"{name}: restarted {', '.join(restarted)}, replicas first"
    return ret


def _pending(cluster: dict[str, Any]) -> list[str]:
    return sorted(m["name"] for m in cluster["members"] if m.get("pending_restart"))


def _restart(member: str, timeout: float) -> None:
    """Restart ``member`` once it streams (a just-demoted primary answers 503 until then), and
    wait until it streams again."""
    seen = joined(member, timeout=timeout)
    if not seen["result"]:
        raise CommandExecutionError(f"{member} before its restart: {seen['comment']}")
    __salt__["patroni.restart_member"](member, timeout=timeout)
    seen = joined(member, timeout=timeout)
    if not seen["result"]:
        raise CommandExecutionError(f"{member} after its restart: {seen['comment']}")
