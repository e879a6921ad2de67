"""Prometheus on the deployed sandbox, asked from this host through the portal (p.pigsty): it
discovers every exporter of the inventory, scrapes the deployed ones with their identity labels,
loads pigsalt's rules, and fires PostgresDown for a stopped replica, then resolves it."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_cluster

pytestmark = pytest.mark.e2e

META = "10.10.10.10"


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> Sandbox:
    deploy_cluster(sandbox_session, "pg-meta")
    deploy_cluster(sandbox_session, "pg-test")
    return sandbox_session


def _api(path: str, **params: str) -> Any:
    """Prometheus' HTTP API through Nginx on meta (Host p.pigsty): the ``data`` of a success."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(f"http://{META}/api/v1/{path}{query}", headers={"Host": "p.pigsty"})
    with urllib.request.urlopen(request, timeout=15) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]


def _alertmanager(path: str, method: str = "GET", body: Any = None) -> Any:
    """Alertmanager's v2 API through Nginx on meta (Host a.pigsty)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Host": "a.pigsty", "Content-Type": "application/json"}
    request = urllib.request.Request(f"http://{META}/api/v2/{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=15) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def _eventually(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(3)


def _expected(sandbox: Sandbox) -> dict[tuple[str, str], dict[str, str]]:
    """Every exporter of the inventory, by (job, ins), with the labels it should carry."""
    inv = sandbox.inventory
    expected: dict[tuple[str, str], dict[str, str]] = {}
    for node in inv.nodes:
        cls = node.instance.cluster if node.instance else ("infra" if node.meta else "nodes")
        expected[("node", node.name)] = {"cls": cls, "ip": node.ip}
    for cluster in inv.clusters:
        for inst in cluster.instances:
            for job in ("pgsql", "pgbouncer", "haproxy", "patroni"):
                expected[(job, inst.name)] = {"cls": cluster.name, "ip": inst.ip, "role": inst.role}
    for node in inv.meta_nodes:
        expected[("etcd", node.name)] = {"ip": node.ip}
        expected[("prometheus", node.name)] = {"cls": "infra", "ip": node.ip}
        expected[("alertmanager", node.name)] = {"cls": "infra", "ip": node.ip}
    return expected


def _targets() -> dict[tuple[str, str], dict[str, Any]]:
    active = _api("targets", state="active")["activeTargets"]
    return {(t["labels"]["job"], t["labels"]["ins"]): t for t in active}


def test_prometheus_discovers_every_exporter_and_scrapes_the_deployed_ones(deployed: Sandbox) -> None:
    expected = _expected(deployed)
    seen = _eventually(lambda: (t := _targets()) and set(t) == set(expected) and t, timeout=60) or _targets()
    assert set(seen) == set(expected), (
        f"missing: {sorted(set(expected) - set(seen))}, extra: {sorted(set(seen) - set(expected))}"
    )
    for key, labels in expected.items():
        assert {k: seen[key]["labels"].get(k) for k in labels} == labels, key
    # Deployed so far: every node's exporter (pigsty.node ran on all), pg-meta, pg-test, etcd,
    # Prometheus, Alertmanager. The other clusters of the e2e inventory are deployed by their own modules.
    infra = ("node", "etcd", "prometheus", "alertmanager")
    deployed_keys = {k for k, v in expected.items() if k[0] in infra or v["cls"] in ("pg-meta", "pg-test")}

    def down() -> list[str]:
        targets = _targets()
        return [
            f"{k}: {targets[k]['health']} {targets[k]['lastError']}"
            for k in deployed_keys
            if targets[k]["health"] != "up"
        ]

    assert _eventually(lambda: not down(), timeout=120), down()


def test_pigsalts_rules_are_loaded_and_evaluate_without_error(deployed: Sandbox) -> None:
    groups = _api("rules")["groups"]
    assert {g["name"] for g in groups} >= {"node", "pgsql", "patroni", "pgbouncer", "haproxy", "etcd", "infra"}
    broken = [
        f"{g['name']}/{r['name']}: {r['lastError']}" for g in groups for r in g["rules"] if r.get("health") == "err"
    ]
    assert not broken


def test_a_stopped_replica_fires_postgres_down_and_resolves_after_its_restart(deployed: Sandbox) -> None:
    members = json.loads(deployed.salt("node-1", "patroni.cluster", "--out=json").stdout)["node-1"]["members"]
    replica = next(m["name"] for m in members if m["role"] != "leader" and m["name"] != "pg-test-3")
    node = {"pg-test-1": "node-1", "pg-test-2": "node-2", "pg-test-3": "node-3"}[replica]

    def firing() -> list[dict[str, Any]]:
        alerts = _api("alerts")["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "PostgresDown" and a["labels"].get("ins") == replica]

    assert not firing()
    deployed.run(node, "systemctl", "stop", "patroni", check=True)
    try:
        fired = _eventually(lambda: [a for a in firing() if a["state"] == "firing"], timeout=180)
    finally:
        deployed.run(node, "systemctl", "start", "patroni", check=True)
    assert fired, f"PostgresDown did not fire for {replica}: {firing()}"
    assert fired[0]["labels"]["cls"] == "pg-test" and fired[0]["labels"]["severity"] == "CRIT"
    received = _alertmanager(f"alerts?filter=alertname%3D%22PostgresDown%22&filter=ins%3D%22{replica}%22")
    assert received and received[0]["labels"]["cls"] == "pg-test", received
    assert _eventually(lambda: not firing(), timeout=180), f"PostgresDown did not resolve: {firing()}"


def test_alertmanager_keeps_a_silence_across_a_restart(deployed: Sandbox) -> None:
    now = time.time()
    silence = {
        "matchers": [{"name": "cls", "value": "pg-e2e-silence", "isRegex": False, "isEqual": True}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "pigsalt e2e",
        "comment": "survives a restart",
    }
    created = _alertmanager("silences", "POST", silence)["silenceID"]
    deployed.run("meta", "systemctl", "restart", "prometheus-alertmanager", check=True)

    def kept() -> bool:
        try:
            return any(s["id"] == created and s["status"]["state"] == "active" for s in _alertmanager("silences"))
        except OSError:
            return False

    assert _eventually(kept, timeout=60), "the silence did not survive Alertmanager's restart"
    _alertmanager(f"silence/{created}", "DELETE")
