"""Running orchestrations on the sandbox's master, read with ``pigsalt.orch`` (what
``pigsalt deploy`` uses)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pigsalt.orch import OrchRun, parse
from pigsalt.orch import run as run_on
from tests.e2e.conftest import Sandbox

__all__ = ["OrchRun", "deploy_cluster", "parse", "run_orch"]


def run_orch(sandbox: Sandbox, mods: str, pillar: str | None = None, timeout: float = 900) -> OrchRun:
    def runner(argv: Sequence[str], limit: float) -> tuple[int, str, str]:
        done = sandbox.run(sandbox.layout.master, *argv, timeout=limit)
        return done.returncode, done.stdout, done.stderr

    return run_on(runner, mods, json.loads(pillar) if pillar else None, timeout=timeout)


def deploy_cluster(sandbox: Sandbox, cluster: str) -> OrchRun:
    """pigsty.infra and pigsty.node (once per sandbox: test_infra checks their reruns, and the
    deploy test of test_cluster a whole deployment's), then pigsty.cluster for ``cluster``; each
    must succeed."""
    sandbox.ensure_up()
    if not sandbox.base_deployed:
        for mods in ("pigsty.infra", "pigsty.node"):
            run = run_orch(sandbox, mods)
            assert run.ok, "\n".join(run.failed) or run.raw[-2000:]
        sandbox.base_deployed = True
    deployed = run_orch(sandbox, "pigsty.cluster", pillar=json.dumps({"pg_cluster": cluster}))
    assert deployed.ok, "\n".join(deployed.failed) or deployed.raw[-2000:]
    return deployed
