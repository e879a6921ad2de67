"""The sandbox itself: nodes with systemd, Salt through the master, cut/heal, clean down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pigsalt.sandbox as sb
from pigsalt.debian import host_sources
from pigsalt.sandbox import network, salt
from pigsalt.sandbox.state import load_state
from pigsalt.sandbox.system import CGROUP_HIERARCHIES, CGROUP_NAME, CGROUP_ROOT, mounts, proc_stat
from tests.e2e.conftest import Sandbox

pytestmark = pytest.mark.e2e

PIGSALT = [str(Path(sys.executable).parent / "pigsalt")]
UNIT = "pigsalt-e2e-sleeper"


def salt_json(sandbox: Sandbox, *args: str) -> dict[str, object]:
    result = sandbox.salt("--out=json", "--static", *args)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_every_minion_answers_through_the_master(sandbox: Sandbox) -> None:
    assert salt_json(sandbox, "*", "test.ping") == {name: True for name in sandbox.layout.names}


def test_every_minion_receives_its_pillar_from_the_inventory(sandbox: Sandbox) -> None:
    names = salt_json(sandbox, "*", "pillar.get", "pigsty:node:name", "unmask=True")
    assert names == {name: name for name in sandbox.layout.names}
    instances = salt_json(sandbox, "*", "pillar.get", "pigsty:pg:instance", "unmask=True")
    assert instances == {
        "meta": "pg-meta-1",
        "node-1": "pg-test-1",
        "node-2": "pg-test-2",
        "node-3": "pg-test-3",
        "node-4": "pg-deb12-1",
        "node-5": "pg-deb12-2",
        "node-6": "pg-deb13-1",
    }


def test_each_node_runs_its_inventory_release_with_salt_on_that_releases_python(sandbox: Sandbox) -> None:
    """What runs where: `salt '*' test.versions_report` (printed), and each node's Debian and
    Python as node_os says (Debian 13: Python 3.13; Debian 12: Python 3.11), one Salt version."""
    report = sandbox.salt("--out=txt", "*", "test.versions_report")
    print(report.stdout)
    assert report.returncode == 0, report.stderr
    grains = salt_json(sandbox, "*", "grains.item", "osmajorrelease", "pythonversion", "saltversion")
    wanted = {"debian12": (12, [3, 11]), "debian13": (13, [3, 13])}
    for node in sandbox.layout.nodes:
        major, python = wanted[node.os]
        found = grains[node.name]
        assert isinstance(found, dict)
        assert (found["osmajorrelease"], found["pythonversion"][:2]) == (major, python), (node.name, found)
    assert {g["saltversion"] for g in grains.values() if isinstance(g, dict)} == {"3008.3"}


def test_nodes_run_systemd_with_their_own_identity(sandbox: Sandbox) -> None:
    machine_ids = set()
    for node in sandbox.layout.nodes:
        assert sandbox.run(node.name, "systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
        assert sandbox.run(node.name, "hostname").stdout.strip() == node.name
        assert f"inet {node.ip}/24" in sandbox.run(node.name, "ip", "-4", "addr", "show", "host0").stdout
        assert "default" not in sandbox.run(node.name, "ip", "route").stdout
        machine_ids.add(sandbox.run(node.name, "cat", "/etc/machine-id").stdout.strip())
    assert len(machine_ids) == len(sandbox.layout.nodes)


def test_service_running_state_starts_a_unit_in_a_node(sandbox: Sandbox) -> None:
    unit = "[Unit]\nDescription=pigsalt e2e\n\n[Service]\nExecStart=/bin/sleep infinity\n"
    path = f"/etc/systemd/system/{UNIT}.service"
    sandbox.run("node-1", "sh", "-c", 'printf "%s" "$1" > "$2"', "sh", unit, path, check=True)
    assert sandbox.run("node-1", "systemctl", "is-active", UNIT).stdout.strip() != "active"
    running = salt_json(sandbox, "node-1", "state.single", "service.running", f"name={UNIT}")
    (state,) = running["node-1"].values()  # type: ignore[union-attr]
    assert state["result"] is True, state
    assert sandbox.run("node-1", "systemctl", "is-active", UNIT).stdout.strip() == "active"
    sandbox.run("node-1", "systemctl", "stop", UNIT, check=True)


def test_cut_isolates_a_node_and_heal_restores_it(sandbox: Sandbox) -> None:
    def reaches(src: str, dst: str) -> bool:
        ip = str(sandbox.layout.node(dst).ip)
        return sandbox.run(src, "ping", "-c", "1", "-W", "1", ip).returncode == 0

    def eventually(src: str, dst: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not reaches(src, dst):
            if time.monotonic() >= deadline:
                return False
        return True

    assert eventually("node-1", "node-3", 30), "node-3 unreachable before the cut"
    sb.cut("node-3", sandbox.paths)
    try:
        assert not reaches("node-1", "node-3")
        assert not reaches("node-3", "meta")
        assert not network.link_is_up("vb-node-3")
        cut = {n.name: n.cut for n in sb.status(sandbox.paths, ask_salt=False).nodes}
        assert cut == {name: name == "node-3" for name in sandbox.layout.names}
    finally:
        sb.heal("node-3", sandbox.paths)
    assert eventually("node-1", "node-3", 30), "node-3 still unreachable 30 s after heal"
    assert eventually("node-3", "meta", 30), "meta unreachable from node-3 30 s after heal"


def test_exec_passes_the_exit_code_through(sandbox: Sandbox) -> None:
    result = subprocess.run(
        [*PIGSALT, "sandbox", "exec", "node-2", "--", "sh", "-c", "echo inside $(hostname); exit 7"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (7, "inside node-2\n")


def test_status_shows_nodes_memory_and_minions(sandbox: Sandbox) -> None:
    st = sb.status(sandbox.paths)
    assert st.exists and st.master is True and st.guard_route and st.bridge and st.repo_server
    assert [(n.name, n.ip, n.running, n.minion) for n in st.nodes] == [
        (n.name, str(n.ip), True, True) for n in sandbox.layout.nodes
    ]
    assert all(n.memory and n.memory > 10 * 2**20 for n in st.nodes)
    assert st.memory == sum(n.memory or 0 for n in st.nodes)
    # Booted: ~0.5 GiB; with pg-meta and pg-test deployed (Postgres, Patroni, etcd, Pgbouncer,
    # HAProxy and the exporters on their nodes): ~1.5 GiB. Either way well under 3 GiB.
    assert st.memory < 3 * 2**30


def test_master_is_configured_by_master_setup(sandbox: Sandbox) -> None:
    config = sandbox.run("meta", "cat", "/etc/salt/master.d/pigsalt.conf", check=True).stdout
    assert "Written by `pigsalt master setup`" in config
    assert "- pigsalt:\n    inventory: /srv/pigsalt/inventory\n" in config
    assert "auto_accept: false\n" in config
    points = sandbox.run(
        "meta",
        "/opt/pigsalt/salt/bin/python",
        "-c",
        "from importlib.metadata import entry_points as e; print([p.value for p in e(group='salt.loader')])",
        check=True,
    ).stdout
    assert "pigsalt.saltext" in points
    assert sandbox.run("meta", "touch", "/srv/pigsalt/project/salt/x").returncode != 0  # read-only


def test_apt_sees_only_the_offline_repository(sandbox: Sandbox) -> None:
    # Booted, a node reads the repository from the host's server; once pigsty.infra has run,
    # from the meta node's Nginx (repo.pigsty). Never from anywhere else.
    repo_url = salt_json(sandbox, "node-2", "pillar.get", "pigsty:infra:repo:url", "unmask=True")["node-2"]
    assert isinstance(repo_url, str) and repo_url.startswith("http://"), repo_url
    allowed = (f"{sandbox.layout.repo_url}/apt/", f"{repo_url}/apt/")
    update = sandbox.run("node-2", "apt-get", "update", timeout=120)
    assert update.returncode == 0, update.stdout + update.stderr
    assert any(url.rstrip("/") in update.stdout for url in allowed), update.stdout
    assert not [src.uri for src in host_sources("bookworm") if src.uri in update.stdout]
    sources = sandbox.run("node-2", "apt-get", "indextargets", "--format", "$(URI)").stdout.split()
    assert sources and all(uri.startswith(allowed) for uri in sources), sources


def test_up_is_idempotent(sandbox: Sandbox) -> None:
    assert sb.up(sandbox.layout, paths=sandbox.paths, inventory_dir=sandbox.inventory_dir).already_up


def test_up_recovers_after_a_crash(sandbox: Sandbox) -> None:
    state = load_state(sandbox.paths)
    assert state is not None
    ref = state.nodes["node-2"]
    subprocess.run(["kill", "-KILL", str(ref.pid)], check=True)
    sandbox.paths.state_file.unlink()  # as if `up` died before writing it
    result = sb.up(sandbox.layout, paths=sandbox.paths, inventory_dir=sandbox.inventory_dir)
    assert not result.already_up
    assert salt_json(sandbox, "*", "test.ping") == {name: True for name in sandbox.layout.names}


def test_up_down_cycles_keep_master_and_minion_keys_together(sandbox: Sandbox) -> None:
    """Three down/up cycles: every down leaves no sandbox process (not even an unreaped one),
    every up has the master holding exactly the keys the new minions have, all answering."""
    for cycle in range(1, 4):
        assert sb.down(paths=sandbox.paths) == [], f"cycle {cycle}"
        assert _sandbox_processes(include_zombies=True) == [], f"cycle {cycle}: processes left after down"
        result = sb.up(sandbox.layout, paths=sandbox.paths, inventory_dir=sandbox.inventory_dir)
        assert not result.already_up
        assert sorted(result.accepted) == sorted(sandbox.layout.names), f"cycle {cycle}"
        leaders = {name: sb.leader(name, sandbox.paths) for name in sandbox.layout.names}
        fingers = {name: salt.node_finger(pid) for name, pid in leaders.items()}
        held = salt.master_fingerprints(leaders[sandbox.layout.master])
        assert held.get("minions") == fingers, f"cycle {cycle}: master and minion keys differ"
        assert salt_json(sandbox, "*", "test.ping") == {name: True for name in sandbox.layout.names}


def test_down_leaves_nothing_behind(sandbox: Sandbox) -> None:
    layout = sandbox.layout
    # While the sandbox exists, a packet for the subnet never takes the default route.
    subprocess.run(["ip", "link", "set", layout.bridge, "down"], check=True)
    assert _refused(network.route_get("10.10.10.99"))
    state = load_state(sandbox.paths)
    assert state is not None
    pids = [ref.pid for ref in state.nodes.values()] + [state.http.pid if state.http else 0]

    assert sb.down(paths=sandbox.paths) == []

    assert not network.link_exists(layout.bridge)
    assert network.leftover_veths(layout) == []
    # The guard route stays: after down, the subnet is still refused on this machine.
    assert network.has_guard_route(layout)
    assert _refused(network.route_get("10.10.10.99"))
    assert [m for m in mounts() if str(sandbox.paths.root) in str(m.mountpoint) or "pigsalt" in m.source] == []
    assert [h for h in CGROUP_HIERARCHIES if (CGROUP_ROOT / h / CGROUP_NAME).exists()] == []
    live = [pid for pid in pids if (stat := proc_stat(pid)) is not None and stat.alive]
    assert live == []
    assert _sandbox_processes() == []
    assert not sandbox.paths.state_file.exists()
    assert sb.leftovers(sandbox.paths, layout) == []
    # And again: down is idempotent.
    assert sb.down(paths=sandbox.paths) == []


def _refused(route: str) -> bool:
    """`ip route get` met the unreachable guard route."""
    return "unreachable" in route or "No route to host" in route


def _sandbox_processes(include_zombies: bool = False) -> list[str]:
    """Processes that belong to a sandbox (nspawn on its roots, the repo server): live ones,
    and with ``include_zombies`` also an exited nspawn nobody has reaped yet (a zombie has no
    command line; nothing but the sandbox runs systemd-nspawn here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None:
            continue
        if not stat.alive:
            if include_zombies and stat.comm == "systemd-nspawn":
                found.append(f"{entry.name}: unreaped systemd-nspawn")
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "/var/lib/pigsalt/sandbox/nodes" in cmdline or "http.server --bind 10.10.10.1" in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found
