"""pigsty.cluster on the sandbox: pg-test bootstrapped by Patroni, checked from the host and the nodes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.orch import OrchRun, run_orch

pytestmark = pytest.mark.e2e

CLUSTER = "pg-test"
PILLAR = json.dumps({"pg_cluster": CLUSTER})
MEMBERS = {"node-1": "10.10.10.11", "node-2": "10.10.10.12", "node-3": "10.10.10.13"}


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> OrchRun:
    sandbox_session.ensure_up()
    for mods in ("pigsty.infra", "pigsty.node"):
        run = run_orch(sandbox_session, mods)
        assert run.ok, run.failed or run.raw[-2000:]
    cluster = run_orch(sandbox_session, "pigsty.cluster", pillar=PILLAR)
    assert cluster.ok, cluster.failed or cluster.raw[-2000:]
    return cluster


def _patroni(ip: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://{ip}:8008{path}", timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_patroni_reports_a_leader_and_two_streaming_replicas(sandbox: Sandbox, deployed: OrchRun) -> None:
    status, body = _patroni(MEMBERS["node-1"], "/cluster")
    assert status == 200
    roles = {m["name"]: m["role"] for m in json.loads(body)["members"]}
    assert roles == {"pg-test-1": "leader", "pg-test-2": "replica", "pg-test-3": "replica"}, roles
    for node in ("node-2", "node-3"):
        status, body = _patroni(MEMBERS[node], "/replica?replication_state=streaming")
        assert status == 200, (node, body[:300])


def test_leader_streams_to_both_replicas(sandbox: Sandbox, deployed: OrchRun) -> None:
    query = "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1"
    found = sandbox.run("node-1", "runuser", "-u", "postgres", "--", "psql", "-Atc", query)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["pg-test-2", "pg-test-3"], found.stdout


def test_no_debian_main_cluster(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node in MEMBERS:
        clusters = sandbox.run(node, "pg_lsclusters", "--no-header")
        assert clusters.returncode == 0, (node, clusters.stderr)
        assert clusters.stdout.strip() == "", (node, clusters.stdout)


def test_unsafe_endpoints_need_authentication(sandbox: Sandbox, deployed: OrchRun) -> None:
    request = urllib.request.Request(f"http://{MEMBERS['node-1']}:8008/restart", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_patroni_config_is_private(sandbox: Sandbox, deployed: OrchRun) -> None:
    for node in MEMBERS:
        mode = sandbox.run(node, "stat", "-c", "%a %U", "/etc/patroni/patroni.yml").stdout.strip()
        assert mode == "600 postgres", (node, mode)


def test_second_run_changes_nothing(sandbox: Sandbox, deployed: OrchRun) -> None:
    again = run_orch(sandbox, "pigsty.cluster", pillar=PILLAR)
    assert again.ok, again.failed
    assert again.changed == [], f"pigsty.cluster changed on its second run: {again.changed}"
