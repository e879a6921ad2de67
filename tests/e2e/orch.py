"""Running orchestrations on the sandbox's master, read with ``pigsalt.orch`` (what
``pigsalt deploy`` uses)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from pigsalt.orch import OrchRun, parse
from pigsalt.orch import run as run_on
from tests.e2e.conftest import Sandbox

__all__ = ["OrchRun", "deploy_base", "deploy_cluster", "parse", "run_orch"]


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
        _settled(sandbox, cluster)
    return sandbox.cluster_runs[cluster]


def _settled(sandbox: Sandbox, cluster: str, timeout: float = 180) -> None:
    """Wait until Patroni lists ``cluster``'s every member: a leader running, the others streaming."""
    members = [i.ip for i in sandbox.inventory.cluster(cluster).instances]
    expected = sorted([(True, "running"), *[(False, "streaming")] * (len(members) - 1)])
    deadline = time.monotonic() + timeout
    seen: object = None
    while time.monotonic() < deadline:
        try:
            status, body = sandbox.patroni(members[0], "/cluster")
            seen = json.loads(body).get("members", []) if status == 200 else body
        except (ConnectionError, ValueError) as err:
            seen = err
        states = sorted((m.get("role") == "leader", m.get("state")) for m in seen) if isinstance(seen, list) else []
        if states == expected:
            return
        time.sleep(2)
    raise AssertionError(f"{cluster}: no leader running with the others streaming after {timeout:.0f} s: {seen}")
