"""Running orchestrations on the sandbox's master, read with ``pigsalt.orch`` (what
``pigsalt deploy`` uses)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from pigsalt.orch import OrchRun, parse
from pigsalt.orch import run as run_on
from pigsalt.pillar.derive import DEFAULT_SERVICES
from tests.e2e.conftest import Sandbox

__all__ = ["OrchRun", "deploy_base", "deploy_cluster", "parse", "run_orch", "settled"]


def run_orch(sandbox: Sandbox, mods: str, pillar: str | None = None, timeout: float = 900) -> OrchRun:
    def runner(argv: Sequence[str], limit: float) -> tuple[int, str, str]:
        done = sandbox.run(sandbox.layout.master, *argv, timeout=limit)
        return done.returncode, done.stdout, done.stderr

    return run_on(runner, mods, json.loads(pillar) if pillar else None, timeout=timeout)


def _succeeded(run: OrchRun) -> OrchRun:
    assert run.ok, "\n".join(run.failed) or run.raw[-2000:]
    return run


def deploy_base(sandbox: Sandbox) -> dict[str, OrchRun]:
    """pigsty.infra and pigsty.node, once per sandbox: their runs, by orchestration (the first
    ones of this session; test_infra checks their reruns, test_cluster a whole deployment's)."""
    sandbox.ensure_up()
    for mods in ("pigsty.infra", "pigsty.node"):
        if mods not in sandbox.base_runs:
            sandbox.base_runs[mods] = _succeeded(run_orch(sandbox, mods))
    return dict(sandbox.base_runs)


def deploy_cluster(sandbox: Sandbox, cluster: str) -> OrchRun:
    """``cluster`` deployed, on top of the base (``deploy_base``): the run of pigsty.cluster
    that deployed it in this session, made now if none did yet (or a test ``forget``-ed it).

    A cluster deployed earlier may just have had a member restarted or a switchover (by an
    earlier module's test): it is handed over once Patroni shows its leader running and every
    other member streaming, as the orchestration's own checks leave a new deployment."""
    deploy_base(sandbox)
    if cluster not in sandbox.cluster_runs:
        pillar = json.dumps({"pg_cluster": cluster})
        sandbox.cluster_runs[cluster] = _succeeded(run_orch(sandbox, "pigsty.cluster", pillar=pillar))
    else:
        settled(sandbox, cluster)
    return sandbox.cluster_runs[cluster]


def settled(sandbox: Sandbox, cluster: str, timeout: float = 180) -> None:
    """Wait until ``cluster`` serves as a new deployment does: Patroni lists a leader running and
    every other member streaming, and every member's HAProxy has that leader (and no other
    server) UP in each service that routes to the primary (``<cluster>-primary``,
    ``<cluster>-default``). After a switchover Patroni settles first; HAProxy's checks (and the VIP
    keeper) follow a few seconds later, each backend on its own clock, and a test that connects
    through 5433 or 5436 in between is refused."""
    instances = sandbox.inventory.cluster(cluster).instances
    members = [i.ip for i in instances]
    minions = [n.name for n in sandbox.layout.nodes if str(n.ip) in members]
    expected = sorted([(True, "running"), *[(False, "streaming")] * (len(members) - 1)])
    deadline = time.monotonic() + timeout
    seen: object = None
    while time.monotonic() < deadline:
        try:
            status, body = sandbox.patroni(members[0], "/cluster")
            seen = json.loads(body).get("members", []) if status == 200 else body
        except (ConnectionError, ValueError) as err:
            seen = err
        listed = seen if isinstance(seen, list) else []
        if sorted((m.get("role") == "leader", m.get("state")) for m in listed) == expected:
            leader = next(str(m["name"]) for m in listed if m.get("role") == "leader")
            seen = _primary_up(sandbox, cluster, minions)
            wanted = {b: [leader] for b in _primary_backends(cluster)}
            if all(up == wanted for up in seen.values()) and _holds_vip(sandbox, cluster, leader):
                return
        time.sleep(2)
    raise AssertionError(f"{cluster}: not serving as deployed after {timeout:.0f} s: {seen}")


def _holds_vip(sandbox: Sandbox, cluster: str, leader: str) -> bool:
    """True when ``cluster`` has no VIP, or the leader's node holds it."""
    spec = sandbox.inventory.cluster(cluster)
    if spec.vip is None or not spec.vip.address:
        return True
    vip = spec.vip.address
    ip = next(str(i.ip) for i in spec.instances if i.name == leader)
    node = next(n.name for n in sandbox.layout.nodes if str(n.ip) == ip)
    done = sandbox.run(node, "ip", "-o", "-4", "addr", "show")
    return f" {vip}/" in done.stdout


def _primary_backends(cluster: str) -> list[str]:
    """The backends of ``cluster``'s default services that route to the primary."""
    return [f"{cluster}-{s['name']}" for s in DEFAULT_SERVICES if s["check"] == "/primary"]


def _primary_up(sandbox: Sandbox, cluster: str, minions: Sequence[str]) -> dict[str, object]:
    """By minion: by backend routing to the primary, the servers its HAProxy has UP (or why not
    known)."""
    done = sandbox.salt("-L", ",".join(minions), "haproxy.servers", "--out=json", "--static")
    try:
        found = json.loads(done.stdout or "{}")
    except ValueError:
        found = {}
    return {
        m: {
            b: sorted(s["server"] for s in found[m] if s.get("backend") == b and s.get("status") == "UP")
            for b in _primary_backends(cluster)
        }
        if isinstance(found.get(m), list)
        else f"no answer: {found.get(m, done.stderr.strip()[-200:])}"
        for m in minions
    }
