"""``pigsalt status``: the cluster spec from a real compiled pillar, the gathering over a fake
network (and the HTTPS fetch against a real TLS server), the summary, the text, the problems and
the CLI's exit status."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pigsalt import orch
from pigsalt import status as st
from pigsalt.cli import main
from tests.certs import make_certs
from tests.conftest import ROOT
from tests.serve import serving

NODES = {"10.10.10.11": "node-1", "10.10.10.12": "node-2", "10.10.10.13": "node-3"}


def spec() -> st.ClusterSpec:
    pillar = yaml.safe_load((ROOT / "tests" / "golden" / "pillar" / "sandbox" / "node-1.yml").read_text())
    return st.ClusterSpec.from_pillar(pillar, NODES)


def test_the_spec_comes_from_the_compiled_pillar():
    assert spec() == st.ClusterSpec(
        name="pg-test",
        members={
            "pg-test-1": ("node-1", "10.10.10.11"),
            "pg-test-2": ("node-2", "10.10.10.12"),
            "pg-test-3": ("node-3", "10.10.10.13"),
        },
        patroni_port=8008,
        vip="10.10.10.3",
        services={"pg-test-primary": 5433, "pg-test-replica": 5434, "pg-test-default": 5436, "pg-test-offline": 5438},
    )


def member(name: str, role: str, state: str, lag: int | None = 0) -> dict[str, Any]:
    return {"name": name, "role": role, "state": state, "host": "x", "port": 5432, "timeline": 2, "lag": lag}


CLUSTER = {
    "leader": "pg-test-1",
    "members": [
        member("pg-test-1", "leader", "running", None),
        member("pg-test-2", "replica", "streaming", 0),
        member("pg-test-3", "replica", "streaming", 2_500_000),
    ],
}


def target(job: str, ip: str, port: int, health: str = "up", error: str = "") -> dict[str, Any]:
    labels = {"job": job, "instance": f"{ip}:{port}", "ip": ip, "cls": "pg-test"}
    return {"labels": labels, "health": health, "lastError": error}


def up(node_ip: str, proxy: str, server: str) -> dict[str, Any]:
    return {"metric": {"instance": f"{node_ip}:9101", "proxy": proxy, "server": server, "state": "UP"}}


def answers(cluster: dict[str, Any] = CLUSTER, down: bool = False, alert: bool = False) -> dict[str, Any]:
    """Canned answers by URL, as the network would give them (an Exception: no answer)."""
    ips = list(NODES)
    haproxy = [up(ip, "pg-test-primary", "pg-test-1") for ip in ips] + [
        up(ip, "pg-test-replica", s) for ip in ips for s in ("pg-test-2", "pg-test-3")
    ]
    haproxy += [up(ips[0], "pg-test-default", "pg-test-1"), up(ips[0], "pg-test-offline", "pg-test-3")]
    targets = [target(job, ip, port) for ip in ips for job, port in (("node", 9100), ("pgsql", 9630))]
    if down:
        targets[-1] = target("pgsql", ips[-1], 9630, "down", "connection refused")
    alerts = [
        {"labels": {"alertname": "PostgresDown", "cls": "pg-test", "ins": "pg-test-3", "job": "pgsql",
                    "severity": "critical"},
         "state": "firing", "activeAt": "2026-12-03T08:00:00Z"},
        {"labels": {"alertname": "Pending"}, "state": "pending", "activeAt": "2026-12-03T08:00:00Z"},
    ]  # fmt: skip
    return {
        "https://10.10.10.11:8008/cluster": OSError("connection refused"),
        "https://10.10.10.12:8008/cluster": cluster,
        "prometheus:/api/v1/targets?state=active": {"data": {"activeTargets": targets}},
        "prometheus:/api/v1/alerts": {"data": {"alerts": alerts if alert else alerts[1:]}},
        "prometheus:/api/v1/query?query=haproxy_server_status%7Bstate%3D%22UP%22%7D+%3D%3D+1": {
            "data": {"result": haproxy}
        },
    }


def fake_network(canned: dict[str, Any]) -> Any:
    seen: list[tuple[str | None, str]] = []

    def fetcher(cafile: str | None) -> Any:
        def fetch(url: str) -> Any:
            seen.append((cafile, url))
            found = canned.get(url, OSError(f"nothing at {url}"))
            if isinstance(found, Exception):
                raise found
            return found

        return fetch

    return fetcher, seen


def gathered(canned: dict[str, Any], addresses: dict[str, Any] | None = None) -> dict[str, Any]:
    fetcher, _ = fake_network(canned)
    where = addresses or {"node-1": ["10.10.10.11", "10.10.10.3"], "node-2": ["10.10.10.12"], "node-3": "error"}
    return st.gather([spec()], where, "/ca.crt", prometheus="prometheus:", fetch=fetcher)


def test_gather_asks_patroni_with_the_ca_member_by_member_and_prometheus_in_clear():
    fetcher, seen = fake_network(answers())
    data = st.gather([spec()], {}, "/ca.crt", prometheus="prometheus:", fetch=fetcher)
    assert data["clusters"][0]["patroni"] == {"answer": CLUSTER}
    assert seen[:2] == [
        ("/ca.crt", "https://10.10.10.11:8008/cluster"),  # refused: the next member is asked
        ("/ca.crt", "https://10.10.10.12:8008/cluster"),
    ]
    assert {cafile for cafile, url in seen if url.startswith("prometheus:")} == {None}
    json.dumps(data)  # what the runner returns travels as JSON


def test_a_healthy_cluster_is_summarized_rendered_and_has_no_problem():
    summary = st.summarize(gathered(answers()))
    (c,) = summary["clusters"]
    assert (c["leader"], c["vip_holders"], c["patroni_error"]) == ("pg-test-1", ["pg-test-1"], None)
    assert [(m["instance"], m["node"], m["role"], m["state"]) for m in c["members"]] == [
        ("pg-test-1", "node-1", "leader", "running"),
        ("pg-test-2", "node-2", "replica", "streaming"),
        ("pg-test-3", "node-3", "replica", "streaming"),
    ]
    assert c["services"][:2] == [
        {"service": "pg-test-primary", "port": 5433, "up": ["pg-test-1"], "haproxies": 3},
        {"service": "pg-test-replica", "port": 5434, "up": ["pg-test-2", "pg-test-3"], "haproxies": 3},
    ]
    assert c["exporters"] == {"up": 6, "total": 6, "down": []}
    assert summary["alerts"] == [] and st.problems(summary) == []
    text = st.render(summary)
    assert text.splitlines()[0] == "pg-test: leader pg-test-1; VIP 10.10.10.3 on pg-test-1"
    assert "  pg-test-3  node-3  replica  streaming  2   2.4 MiB" in text
    assert "  pg-test-primary  5433  pg-test-1 (seen by 3 HAProxy)" in text
    assert "scrapes: 6/6 up" in text and text.endswith("alerts firing: none")


def test_every_problem_is_named_on_one_line():
    broken = {
        "leader": None,
        "members": [member("pg-test-2", "replica", "stopped"), member("pg-test-3", "replica", "streaming")],
    }
    canned = answers(broken, down=True, alert=True)
    canned["prometheus:/api/v1/query?query=haproxy_server_status%7Bstate%3D%22UP%22%7D+%3D%3D+1"] = {
        "data": {"result": [up("10.10.10.12", "pg-test-replica", "pg-test-3")]}
    }
    summary = st.summarize(gathered(canned))
    assert st.problems(summary) == [
        "pg-test: no leader",
        "pg-test: pg-test-1 is absent/-, not streaming",
        "pg-test: pg-test-2 is replica/stopped, not streaming",
        "pg-test: VIP 10.10.10.3 on pg-test-1, leader None",
        "pg-test: service pg-test-primary (5433) has no healthy backend",
        "pg-test: service pg-test-default (5436) has no healthy backend",
        "pg-test: service pg-test-offline (5438) has no healthy backend",
        "pg-test: scrape down: pgsql 10.10.10.13:9630: connection refused",
        "alert firing: PostgresDown pg-test pg-test-3 (pgsql)",
    ]
    # An INFO alert is shown, not a problem.
    info = {**summary, "alerts": [{**summary["alerts"][0], "severity": "INFO"}]}
    assert not any(p.startswith("alert firing") for p in st.problems(info))
    # With a cluster named, another cluster's alerts are not its problems.
    assert st.summarize(gathered(canned), only="pg-other")["alerts"] == []
    text = st.render(summary)
    assert "pg-test: leader NONE" in text and "  pg-test-primary  5433  NONE" in text
    assert "    down: pgsql 10.10.10.13:9630: connection refused" in text
    assert "  PostgresDown (critical) pg-test pg-test-3 since 2026-12-03T08:00:00Z" in text


def test_nothing_answering_says_so_instead_of_failing():
    canned = {url: OSError("refused") for url in answers()}
    summary = st.summarize(gathered(canned, addresses={}))
    assert st.problems(summary)[0].startswith("pg-test: Patroni does not answer (10.10.10.11: refused; 10.10.10.12")
    assert st.problems(summary)[-1] == "Prometheus does not answer: prometheus:: refused"
    assert [m["role"] for m in summary["clusters"][0]["members"]] == ["?", "?", "?"]
    assert "Patroni does not answer" in st.render(summary)


@pytest.fixture(scope="module")
def patroni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS server on 127.0.0.1 answering GET /cluster with CLUSTER: (port, CA file)."""
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    with serving(lambda method, path: (200, json.dumps(CLUSTER).encode()), certs) as port:
        yield port, certs.ca


def test_the_fetch_verifies_the_server_with_the_ca(patroni: tuple[int, Path]):
    port, ca = patroni
    assert st._fetcher(str(ca))(f"https://127.0.0.1:{port}/cluster") == CLUSTER
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        st._fetcher(None)(f"https://127.0.0.1:{port}/cluster")


def runner_answering(data: dict[str, Any], calls: list[Sequence[str]]) -> orch.Runner:
    def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        calls.append(list(argv))
        return 0, json.dumps(data), ""

    return run


@pytest.mark.parametrize(("canned", "code"), [(answers(), 0), (answers(down=True), 1)])
def test_the_cli_prints_the_picture_and_exits_1_on_a_problem(
    monkeypatch: pytest.MonkeyPatch, canned: dict[str, Any], code: int
):
    calls: list[Sequence[str]] = []
    monkeypatch.setattr(orch, "local_runner", runner_answering(gathered(canned), calls))
    result = CliRunner().invoke(main, ["status", "--cluster", "pg-test"])
    assert result.exit_code == code, result.output
    assert calls == [["salt-run", "--out=json", "pigsalt.status", "cluster=pg-test"]]
    assert result.output.startswith("pg-test: leader pg-test-1")
    assert ("problems: none" in result.output) is (code == 0)
    as_json = CliRunner().invoke(main, ["status", "--json"])
    assert as_json.exit_code == code
    assert len(json.loads(as_json.output)["problems"]) == code


def _sample(stanza: str, value: float, **labels: str) -> dict[str, Any]:
    return {"metric": {"stanza": stanza, **labels}, "value": [100_000.0, str(value)]}


def test_each_cluster_shows_its_newest_backups_and_last_archived_wal():
    canned = answers()
    query = "prometheus:/api/v1/query?" + urllib.parse.urlencode({"query": st.BACKUP_QUERIES["backups"]})
    canned[query] = {
        "data": {
            "result": [
                _sample("pg-test", 100_000 - 7200, type="full"),
                _sample("pg-test", 100_000 - 300, type="incr"),
                _sample("pg-meta", 1, type="full"),
            ]
        }
    }
    query = "prometheus:/api/v1/query?" + urllib.parse.urlencode({"query": st.BACKUP_QUERIES["archived"]})
    canned[query] = {"data": {"result": [_sample("pg-test", 100_000 - 12)]}}
    summary = st.summarize(gathered(canned))
    assert summary["clusters"][0]["backup"] == {
        "now": 100_000.0,
        "newest": {"full": 92_800.0, "incr": 99_700.0},
        "archived": 99_988.0,
    }
    assert "  backup: newest full 2h ago, incr 5m ago; WAL archived 12s ago" in st.render(summary)
    assert st.problems(summary) == []


def test_a_cluster_without_backup_metrics_says_so():
    summary = st.summarize(gathered(answers()))
    assert summary["clusters"][0]["backup"] is None
    assert "  backup: no metrics (not backed up, or not reported yet)" in st.render(summary)
