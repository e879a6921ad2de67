"""pigsty.infra and pigsty.node on the sandbox, checked from the nodes (issue: core infrastructure)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pigsalt.repo import DEFAULT_REPO_DIR, build_repo
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import OrchRun, deploy_base, run_orch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> tuple[OrchRun, OrchRun]:
    runs = deploy_base(sandbox_session)
    return runs["pigsty.infra"], runs["pigsty.node"]


@pytest.mark.parametrize(("node", "codename"), [("node-2", "trixie"), ("node-4", "bookworm")])
def test_apt_installs_through_repo_pigsty_only_from_the_nodes_release(
    sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun], node: str, codename: str
) -> None:
    sources = sandbox.run(node, "apt-get", "indextargets", "--format", "$(URI)").stdout.split()
    assert sources and all(uri.startswith(f"http://repo.pigsty/apt/{codename}/") for uri in sources), sources
    install = sandbox.run(node, "apt-get", "install", "-y", "jq", timeout=300)
    assert install.returncode == 0, install.stdout[-1000:] + install.stderr[-1000:]
    assert sandbox.run(node, "jq", "--version").returncode == 0


def test_instance_names_resolve_through_meta(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    assert "nameserver 10.10.10.10" in sandbox.run("node-3", "cat", "/etc/resolv.conf").stdout
    for name, ip in (("pg-test-1", "10.10.10.11"), ("pg-test", "10.10.10.3"), ("repo.pigsty", "10.10.10.10")):
        found = sandbox.run("node-3", "getent", "ahostsv4", name).stdout.split()
        assert found and found[0] == ip, (name, found)


def test_nodes_sync_time_from_meta(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    sources = sandbox.run("node-1", "chronyc", "-n", "sources").stdout
    assert "10.10.10.10" in sources, sources


def test_etcd_is_healthy(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    # Authentication is on: etcdctl needs a user (root here); TLS with the node's certificate.
    tls = ["--cacert=/etc/pki/pigsalt/ca.crt", "--cert=/etc/pki/pigsalt/node.crt", "--key=/etc/pki/pigsalt/node.key"]
    root = ["--user=root", f"--password={sandbox.all_secrets()['infra.etcd_root_password']}"]
    health = sandbox.run("meta", "etcdctl", "--endpoints=https://10.10.10.10:2379", *tls, *root, "endpoint", "health")
    assert health.returncode == 0 and "is healthy" in (health.stdout + health.stderr), health


def test_node_exporter_answers_on_every_node(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    for node in sandbox.layout.nodes:  # from meta: the node firewall opens 9100 to the meta nodes
        status, metrics = sandbox.http(f"http://{node.ip}:9100/metrics")
        assert status == 200 and "node_cpu_seconds_total" in metrics, node.name


def test_portal_and_repository_answer_through_nginx(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    for host, path in (
        ("repo.pigsty", "/apt/trixie/Release"),
        ("repo.pigsty", "/apt/bookworm/Release"),
        ("pigsty", "/"),
        ("h.pigsty", "/"),
    ):
        request = urllib.request.Request(f"http://10.10.10.10{path}", headers={"Host": host})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200, host
            body = answer.read()
        if host == "h.pigsty":
            assert b"http://10.10.10.11:9101/" in body


def _served(host: str, path: str) -> bytes:
    request = urllib.request.Request(f"http://10.10.10.10{path}", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def test_a_repository_rebuilt_under_the_running_meta_is_served_and_installed_from(
    sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]
) -> None:
    """`pigsalt repo build` while meta serves the repository (through a bind mount here): meta
    serves the new tree at once, the repo formula (whose keyring the master reads from it)
    succeeds everywhere, and the nodes of the rebuilt release install from it (a build used to
    swap the directory, and meta kept serving the old, deleted one), after fetching their package
    lists again (repo.config's copy of InRelease used to be Salt's first cached one, for ever)."""
    before = _served("repo.pigsty", "/apt/bookworm/InRelease")
    build_repo(DEFAULT_REPO_DIR, releases=("bookworm",))
    built = (DEFAULT_REPO_DIR / "apt" / "bookworm" / "InRelease").read_bytes()
    assert built != before, "the rebuild signed the same Release again"
    assert _served("repo.pigsty", "/apt/bookworm/InRelease") == built
    # A build signs every release again (the kept trixie too): every node fetches its lists anew.
    done = sandbox.salt("--static", "*", "state.sls", "repo", "queue=True", "--out=json", timeout=300)
    results = json.loads(done.stdout)
    assert set(results) == {n.name for n in sandbox.layout.nodes}, sorted(results)
    for node, states in results.items():
        assert isinstance(states, dict), (node, states)
        failed = {sid: r["comment"] for sid, r in states.items() if r["result"] is not True}
        assert failed == {}, (node, failed)
    for node in ("node-4", "node-5"):
        updated = next(r for r in results[node].values() if r["__id__"] == "repo-index-cmd-run")
        assert updated["changes"], (node, updated["comment"])
        lists = sandbox.run(node, "sh", "-c", "cat /var/lib/apt/lists/*_apt_bookworm_*InRelease", check=True)
        assert lists.stdout.encode() == built, f"{node}: apt's lists are not the rebuilt repository's"
        install = sandbox.run(node, "apt-get", "install", "-y", "--reinstall", "jq", timeout=300)
        assert install.returncode == 0, install.stdout[-1000:] + install.stderr[-1000:]


def test_second_run_changes_nothing(sandbox: Sandbox, deployed: tuple[OrchRun, OrchRun]) -> None:
    for mods in ("pigsty.infra", "pigsty.node"):
        again = run_orch(sandbox, mods)
        assert again.ok, "\n".join(again.failed)
        assert again.changed == [], f"{mods} changed on its second run: {again.changed}"
