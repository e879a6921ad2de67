"""The e2e tier: real Debian nodes with systemd (``pigsalt sandbox``).

The sandbox comes up once per session and goes down at the end, unless
PIGSALT_KEEP_SANDBOX=1 (then it stays for the next run, which reuses it). The tests own it:
a sandbox that serves another checkout or inventory (``make demo``'s) is replaced by one
whose master reads the tests' inventory (``<sandbox root>/e2e``), so a test never depends
on what ran before it; tests that look at the nodes themselves assert what holds both
before and after a deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import pigsalt.sandbox as sb
from pigsalt.cli.inventory import default_inventory_text
from pigsalt.inventory.model import open_inventory
from pigsalt.orch import OrchRun
from pigsalt.pillar.build import build
from pigsalt.pillar.tls import CA_CERT
from pigsalt.sandbox.image import SALT_VENV
from pigsalt.sandbox.layout import SandboxPaths, layout_from_inventory
from pigsalt.sandbox.nodes import node_env
from pigsalt.sandbox.state import load_state

KEEP_ENV = "PIGSALT_KEEP_SANDBOX"
# Runs last: it takes the sandbox down.
LAST_TESTS = ("test_down_leaves_nothing_behind",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs on real sandbox nodes (systemd-nspawn, root)")


# The sandbox's own tests see the nodes as `up` leaves them; the formulas' tests change them.
# Each module asks for what it needs (tests.e2e.orch.deploy_cluster) and gets it. One coupling
# remains: test_cluster's check that no password reaches the master's job cache runs before
# test_monitoring asks the master for a node's whole pillar (pillar.show_pillar returns its
# passwords, and the master caches runner returns). test_monitoring's status test then waits
# out the PatroniFailover warning of test_cluster's switchovers (Prometheus says when).
MODULE_ORDER = (
    "test_sandbox",
    "test_infra",
    "test_cluster",
    "test_monitoring",
    "test_grafana",
    "test_security",
    "test_backup",
    "test_cluster_debian12",
    "test_upgrade",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[bool, int]:
        """Other tiers first, then the e2e modules in MODULE_ORDER, then the test that takes it down."""
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        position = 1 + MODULE_ORDER.index(module) if module in MODULE_ORDER else 0
        return (item.name in LAST_TESTS, position)

    items.sort(key=rank)


def why_no_sandbox(paths: SandboxPaths) -> str | None:
    """Why the sandbox cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the sandbox needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is missing (apt-get install systemd-container)"
    if not Path("/sys/fs/cgroup/unified").is_dir() and not Path("/sys/fs/cgroup/cgroup.procs").is_file():
        return "no cgroup hierarchy for systemd-nspawn"
    if shutil.which("mmdebstrap") is None and not any(paths.images.glob("base-*")):
        return "mmdebstrap is missing and no image is cached (apt-get install mmdebstrap)"
    return None


# The default inventory (every node on Debian 13) plus a cluster on Debian 12 (PostgreSQL 15):
# the release pigsalt still supports gets the core cluster checks (test_cluster_debian12.py).
DEBIAN12_CLUSTER = """
    pg-deb12:                     # e2e only: the previous Debian release
      hosts:
        10.10.10.14: {nodename: node-4, pg_seq: 1, pg_role: primary}
        10.10.10.15: {nodename: node-5, pg_seq: 2, pg_role: replica}
      vars:
        pg_cluster: pg-deb12
        node_os: debian12
        pg_vip_enabled: true
        pg_vip_address: 10.10.10.4/24
        pgbouncer_hba_rules:        # Pgbouncer (5433/5434) for the sandbox's host only: HAProxy's ACL
          - {user: '${dbsu}', db: pgbouncer, addr: local, auth: peer, title: dbsu admin console}
          - {user: all, db: all, addr: localhost, auth: pwd, title: local clients}
          - {user: '${monitor}', db: pgbouncer, addr: infra, auth: pwd, title: monitor from meta}
          - {user: all, db: all, addr: cluster, auth: pwd, title: through HAProxy on the members}
          - {user: all, db: all, addr: 10.10.10.1/32, auth: pwd, title: the sandbox host}
        pg_users:
          - {name: legacy, password: Legacy.Pass.12, pgbouncer: true, roles: [dbrole_admin]}
        pg_databases:
          - {name: legacy, owner: legacy}
    pg-deb13:                     # e2e only: pg-deb12's successor on PostgreSQL 17 (test_upgrade.py)
      hosts:
        10.10.10.16: {nodename: node-6, pg_seq: 1, pg_role: primary}
      vars:
        pg_cluster: pg-deb13
        node_os: debian13
        pg_upgrade_from: pg-deb12
"""


def e2e_inventory_text() -> str:
    """The inventory the e2e tier deploys: the default one and the Debian 12 cluster."""
    return default_inventory_text().rstrip("\n") + "\n" + DEBIAN12_CLUSTER


# Run by Sandbox.http inside a node: one request, the status on the first line, then the body.
HTTP_SCRIPT = """
import base64, json, ssl, sys, urllib.error, urllib.request
args = json.loads(sys.argv[1])
request = urllib.request.Request(args["url"], method=args["method"], data=None if args["method"] == "GET" else b"{}")
if args["auth"]:
    request.add_header("Authorization", "Basic " + base64.b64encode(args["auth"].encode()).decode())
context = ssl.create_default_context(cafile=args["ca"])
try:
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:
        status, body = answer.status, answer.read()
except urllib.error.HTTPError as err:
    status, body = err.code, err.read()
sys.stdout.write(f"{status}\\n" + body.decode("utf-8", "replace"))
"""


class Sandbox:
    """The running sandbox as tests use it: the e2e inventory's nodes, its pillar built."""

    def __init__(self, paths: SandboxPaths, work: Path) -> None:
        self.paths = paths
        inventory = work / "pigsty.yml"
        inventory.write_text(e2e_inventory_text())
        self.inventory_dir = work / "pillar"
        build(inventory, self.inventory_dir)
        self.inventory, _ = open_inventory(self.inventory_dir)
        self.layout = layout_from_inventory(self.inventory)
        # What this session deployed on these nodes, by tests.e2e.orch.deploy_base and
        # deploy_cluster: each orchestration's first successful run. A module that needs a
        # deployed cluster gets the one an earlier module made (and the run that made it) rather
        # than deploying it again; a test that leaves a cluster other than its inventory says
        # so (``forget``), and the next module that needs it deploys it again.
        self.base_runs: dict[str, OrchRun] = {}
        self.cluster_runs: dict[str, OrchRun] = {}

    def is_up(self) -> bool:
        """Up, every node running, and the master reading this inventory (not make demo's)."""
        st = sb.status(self.paths, ask_salt=False)
        state = load_state(self.paths)
        ours = state is not None and state.inventory_dir == str(self.inventory_dir.resolve())
        return ours and st.exists and st.phase == "up" and all(n.running for n in st.nodes)

    def ensure_up(self) -> None:
        if not self.is_up():
            sb.up(self.layout, paths=self.paths, inventory_dir=self.inventory_dir)
            self.base_runs.clear()
            self.cluster_runs.clear()

    def forget(self, cluster: str) -> None:
        """``cluster`` no longer is what its inventory says (a test changed it): the next module
        that needs it deployed runs pigsty.cluster again."""
        self.cluster_runs.pop(cluster, None)

    def run(
        self, node: str, *command: str, check: bool = False, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside ``node`` (``env``: its whole environment, e.g. a PGPASSWORD)."""
        environment = {**node_env(), **env} if env else None
        return sb.node_run(sb.leader(node, self.paths), list(command), check=check, timeout=timeout, env=environment)

    def secrets(self, cluster: str = "pg-test") -> dict[str, str]:
        """One cluster's generated passwords (pillar/inventory/secrets.yml: one set per cluster)."""
        store = yaml.safe_load((self.inventory_dir / "secrets.yml").read_text()) or {}
        return dict(store["clusters"][cluster])

    def all_secrets(self) -> dict[str, str]:
        """Every generated password, as ``<cluster>.<parameter>`` (``infra.<parameter>``)."""
        store = yaml.safe_load((self.inventory_dir / "secrets.yml").read_text()) or {}
        found = {f"infra.{k}": v for k, v in (store.get("infra") or {}).items()}
        for cluster, values in (store.get("clusters") or {}).items():
            found.update({f"{cluster}.{k}": v for k, v in values.items()})
        return found

    def salt(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """``salt ARGS`` on the master node."""
        return self.run(self.layout.master, "salt", *args, timeout=timeout)

    def ca_pem(self) -> str:
        """The local CA's certificate, as ``pigsalt ca cert`` prints it (from the CA node)."""
        done = self.run(self.layout.master, "cat", CA_CERT, check=True)
        return done.stdout

    def http(
        self, url: str, method: str = "GET", auth: tuple[str, str] | None = None, node: str = "meta"
    ) -> tuple[int, str]:
        """One HTTP(S) request from inside ``node`` (meta by default: the node firewall opens the
        exporters, HAProxy's admin page and Patroni to meta, not to this host), by the node's Salt
        Python (nodes have no curl); HTTPS verifies the local CA. The status and the body, whatever
        the status; ``ConnectionError`` when no answer comes."""
        args = {"url": url, "method": method, "auth": ":".join(auth) if auth else None, "ca": CA_CERT}
        done = self.run(node, f"{SALT_VENV}/bin/python", "-c", HTTP_SCRIPT, json.dumps(args), timeout=60)
        if done.returncode != 0:
            raise ConnectionError(f"{method} {url} from {node}: {done.stderr.strip().splitlines()[-1:]}")
        status, _, body = done.stdout.partition("\n")
        return int(status), body

    def patroni(
        self, ip: str, path: str, method: str = "GET", auth: tuple[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request to a member's Patroni REST API over HTTPS, from meta, its certificate
        verified against the local CA (and its IP); the status and the body, whatever the status."""
        status, body = self.http(f"https://{ip}:8008{path}", method=method, auth=auth)
        return status, body.encode()


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    paths = SandboxPaths()
    reason = why_no_sandbox(paths)
    if reason:
        pytest.skip(reason)
    work = paths.root / "e2e"
    work.mkdir(parents=True, exist_ok=True)
    handle = Sandbox(paths, work)
    handle.ensure_up()
    yield handle
    if os.environ.get(KEEP_ENV) != "1":
        sb.down(paths=paths)


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Sandbox:
    """The sandbox, up (brought back if an earlier test took it down)."""
    sandbox_session.ensure_up()
    return sandbox_session
