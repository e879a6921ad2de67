"""``up``, ``down``, ``status``, ``cut``, ``heal`` and the way into a node.

``down`` undoes everything ``up`` creates, found both through the state file and
by name (cgroup ``pigsalt-sandbox``, mounts below the sandbox root, the bridge, the
veths, the guard route), so it also cleans up after a crash or a half-finished
``up``. ``up`` starts with that cleanup whenever it finds anything left over.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.master import default_project_dir
from pigsalt.sandbox import network, nodes, salt
from pigsalt.sandbox.image import PackageSource, ensure_packages_and_images
from pigsalt.sandbox.layout import DEFAULT_LAYOUT, Layout, SandboxNode, SandboxPaths
from pigsalt.sandbox.state import ProcRef, State, clear_state, load_state, locked, save_state
from pigsalt.sandbox.system import (
    CGROUP_HIERARCHIES,
    CGROUP_NAME,
    CGROUP_ROOT,
    Progress,
    cgroup_memory,
    cgroup_pids,
    is_alive,
    is_mountpoint,
    mounts,
    mounts_below,
    no_progress,
    proc_stat,
    remove_cgroups,
    remove_tree,
    require_root,
    require_tools,
    run,
    signal_pid,
    unmount,
    wait_dead,
    wait_gone,
)

NSPAWN_RUNTIME = Path("/run/systemd/nspawn")
NSPAWN_TMPFS = "pigsalt-nspawn"
STOP_GRACE = 6.0  # seconds nodes get to power off before they are killed
REAP_GRACE = 15.0  # seconds to wait for the stopped nspawn processes to leave the process table

# Project directories the master node sees, read-only, below PROJECT_IN_MASTER.
PROJECT_DIRS = ("salt", "pillar", "_modules", "_states", "_utils", "_grains", "_runners")


@dataclass(frozen=True)
class UpResult:
    layout: Layout
    repo_origin: str
    signed: bool
    accepted: tuple[str, ...]
    already_up: bool = False


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ip: str
    os: str
    running: bool
    cut: bool
    memory: int | None
    minion: bool | None  # answered test.ping; None when the master was not asked


@dataclass(frozen=True)
class Status:
    exists: bool
    phase: str = ""
    nodes: tuple[NodeStatus, ...] = ()
    master: bool | None = None
    bridge: bool = False
    guard_route: bool = False
    repo_server: bool = False
    repo_origin: str = ""
    memory: int | None = None
    leftovers: tuple[str, ...] = field(default_factory=tuple)


# --- up --------------------------------------------------------------------------------


def up(
    layout: Layout = DEFAULT_LAYOUT,
    *,
    paths: SandboxPaths | None = None,
    project_dir: Path | None = None,
    inventory_dir: Path | None = None,
    progress: Progress = no_progress,
) -> UpResult:
    """Bring the sandbox up; a no-op when it is up and healthy with this layout."""
    paths = paths or SandboxPaths()
    require_root()
    require_tools()
    project = _project(project_dir)
    inventory = inventory_dir or project / "pillar" / "inventory"
    with locked(paths):
        state = load_state(paths)
        if state is not None and state.phase == "up" and _healthy(state):
            other = _serves_another(state, layout, project, inventory)
            if not other:
                progress("the sandbox is already up")
                master = state.leaders[layout.master]
                salt.wait_ping(master, layout.names, timeout=30)
                return UpResult(layout, state.repo_origin, state.signed, (), already_up=True)
            progress(f"the running sandbox serves {other}: replacing it")
        found = leftovers(paths, layout)
        if state is not None or found:
            progress("removing what an earlier sandbox left behind")
            _down(paths, layout, progress)
        return _up(layout, paths, project, inventory, progress)


def _serves_another(state: State, layout: Layout, project: Path, inventory: Path) -> str:
    """What differs between the running sandbox and the one asked for ("" when nothing does).

    The master node sees the project and the compiled inventory through bind mounts made at
    boot: a sandbox started from another checkout or inventory would deploy that one's."""
    if state.layout != layout:
        return "another layout" + _release_changes(state.layout, layout)
    if state.project_dir != str(project):
        return f"the project in {state.project_dir or '(unknown)'}"
    if state.inventory_dir != str(inventory.resolve()):
        return f"the inventory in {state.inventory_dir or '(unknown)'}"
    return ""


def _release_changes(running: Layout, wanted: Layout) -> str:
    """`` (node-1: debian12, not debian13)`` for nodes that run another release than asked."""
    changed = [
        f"{node.name}: {running.node(node.name).os}, not {node.os}"
        for node in wanted.nodes
        if node.name in running.names and running.node(node.name).os != node.os
    ]
    return f" ({'; '.join(changed)})" if changed else ""


def _project(project_dir: Path | None) -> Path:
    project = project_dir or default_project_dir()
    if project is None:
        raise PigsaltError("cannot tell where the pigsalt project is; pass --project DIR")
    return project.resolve()


def _up(layout: Layout, paths: SandboxPaths, project: Path, inventory: Path, progress: Progress) -> UpResult:
    packages, images = ensure_packages_and_images(paths, project, layout, progress)

    state = State(
        layout=layout,
        project_dir=str(project),
        inventory_dir=str(inventory.resolve()),
        repo=str(packages.path),
        repo_origin=packages.origin,
        signed=packages.keyring is not None,
        image=[str(layer) for name in sorted(images) for layer in (images[name].salt, images[name].base)],
    )
    save_state(paths, state)

    progress(f"network: guard route for {layout.subnet}, bridge {layout.bridge}")
    network.add_guard_route(layout)  # before anything can send to the subnet
    if not is_mountpoint(NSPAWN_RUNTIME):
        NSPAWN_RUNTIME.mkdir(parents=True, exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", NSPAWN_TMPFS, str(NSPAWN_RUNTIME)])
    network.add_bridge(layout)
    http = network.start_http_server(layout, packages.path, paths.run / "repo-server.log")
    state.http = ProcRef(http.pid, http.starttime)
    save_state(paths, state)
    _wait_port(layout, timeout=10)

    progress(f"booting {len(layout.nodes)} nodes ({', '.join(r.name for r in layout.releases)})")
    for node in layout.nodes:
        node_dir = paths.node_dir(node.name)
        for sub in ("upper", "work", "root"):
            (node_dir / sub).mkdir(parents=True, exist_ok=True)
        run(nodes.mount_overlay_argv(node, images[node.os], paths))
        root = paths.node_root(node.name)
        nodes.prepare_root(node, layout, root, packages)
        binds = _wheel_binds(packages)
        if node.name == layout.master:
            binds += _master_binds(project, inventory, packages, paths, root)
        started = nodes.start_node(node, layout, paths, binds)
        state.nodes[node.name] = ProcRef(started.pid, started.starttime)
        save_state(paths, state)
    for node in layout.nodes:
        ref = state.nodes[node.name]
        stat = proc_stat(ref.pid)
        if stat is None:
            raise PigsaltError(f"node {node.name}: systemd-nspawn is gone")
        state.leaders[node.name] = nodes.wait_leader(node, stat, paths.node_dir(node.name) / "console.log")
    save_state(paths, state)

    master = layout.master_node
    master_leader = state.leaders[master.name]
    progress(f"pigsalt into every node's Salt venv; salt master on {master.name}: `pigsalt master setup`")

    def install(node: SandboxNode) -> None:
        nodes.wait_booted(node, state.leaders[node.name])
        salt.install_pigsalt(state.leaders[node.name], packages.pigsalt_wheel.name)

    # Every node at once; the master starts as soon as its own node has pigsalt.
    with ThreadPoolExecutor(max_workers=len(layout.nodes)) as pool:
        installs = {node.name: pool.submit(install, node) for node in layout.nodes}
        installs[master.name].result()
        salt.start_master(master_leader)
        for done in installs.values():
            done.result()

    progress("accepting minion keys by fingerprint")
    accepted = salt.accept_keys(
        master_leader,
        paths.node_root(master.name),
        state.leaders,
        {n.name: paths.node_root(n.name) for n in layout.nodes},
    )
    progress("waiting for every minion to answer test.ping")
    salt.wait_ping(master_leader, layout.names)
    state.phase = "up"
    save_state(paths, state)
    return UpResult(layout, packages.origin, packages.keyring is not None, accepted)


def _master_binds(
    project: Path, inventory: Path, packages: PackageSource, paths: SandboxPaths, root: Path
) -> list[nodes.Bind]:
    """The project read-only, the compiled inventory read-write, the wheels read-only.

    A directory the project lacks becomes an empty one in the node, so that the
    master's configuration stays the same.
    """
    binds: list[nodes.Bind] = []
    for name in PROJECT_DIRS:
        target = f"{salt.PROJECT_IN_MASTER}/{name}"
        if (project / name).is_dir():
            binds.append(nodes.Bind(project / name, target))
        elif name in ("salt", "pillar", "_modules", "_states"):
            (root / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if inventory.is_dir():
        binds.append(nodes.Bind(inventory, salt.INVENTORY_IN_MASTER, read_only=False))
    else:
        (root / salt.INVENTORY_IN_MASTER.lstrip("/")).mkdir(parents=True, exist_ok=True)
    # The whole offline repository, where a real meta node keeps it (the infra formula serves it).
    binds.append(nodes.Bind(packages.path, salt.REPO_IN_MASTER))
    return binds


def _wheel_binds(packages: PackageSource) -> list[nodes.Bind]:
    """The wheelhouse and pigsalt's wheel, read-only, in every node: the minions' modules
    import pigsalt's helpers, so pigsalt sits in every node's Salt venv (docs/install.md)."""
    return [
        nodes.Bind(packages.pypi_dir, salt.PYPI_IN_NODE),
        nodes.Bind(packages.pigsalt_wheel.parent, salt.WHEEL_IN_NODE),
    ]


def _wait_port(layout: Layout, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((str(layout.host_ip), layout.repo_port), timeout=1):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise PigsaltError(f"the repository server on {layout.repo_url} does not answer: {err}") from err
            time.sleep(0.1)


def _healthy(state: State) -> bool:
    if not network.has_guard_route(state.layout) or not network.link_exists(state.layout.bridge):
        return False
    if state.http is None or not is_alive(state.http.pid, state.http.starttime):
        return False
    for node in state.layout.nodes:
        ref = state.nodes.get(node.name)
        if ref is None or not is_alive(ref.pid, ref.starttime) or node.name not in state.leaders:
            return False
    return True


# --- down ------------------------------------------------------------------------------


def leftovers(paths: SandboxPaths, layout: Layout = DEFAULT_LAYOUT) -> list[str]:
    """Everything of a sandbox that exists on the host, by name."""
    found: list[str] = []
    if paths.state_file.exists():
        found.append(f"state file {paths.state_file}")
    pids = cgroup_pids()
    if pids:
        found.append(f"{len(pids)} processes in cgroup {CGROUP_NAME}")
    for hierarchy in CGROUP_HIERARCHIES:
        if (CGROUP_ROOT / hierarchy / CGROUP_NAME).is_dir():
            found.append(f"cgroup {hierarchy}/{CGROUP_NAME}")
    found += [f"mount {m.mountpoint}" for m in mounts_below(paths.root)]
    found += [f"mount {m.mountpoint}" for m in mounts() if m.source == NSPAWN_TMPFS]
    if network.link_exists(layout.bridge):
        found.append(f"bridge {layout.bridge}")
    found += [f"veth {v}" for v in network.leftover_veths(layout)]
    if paths.nodes.is_dir() and any(paths.nodes.iterdir()):
        found.append(f"node directories in {paths.nodes}")
    return found


def down(
    layout: Layout | None = None,
    *,
    paths: SandboxPaths | None = None,
    progress: Progress = no_progress,
    remove_guard: bool = False,
) -> list[str]:
    """Remove the sandbox; return what was left that could not be removed (empty: clean).

    The guard route stays unless ``remove_guard``: after ``down`` a packet for the sandbox
    subnet is still refused on this machine instead of following the default route out.
    """
    paths = paths or SandboxPaths()
    require_root()
    with locked(paths):
        state = load_state(paths)
        return _down(paths, layout or (state.layout if state else DEFAULT_LAYOUT), progress, remove_guard)


def _down(paths: SandboxPaths, layout: Layout, progress: Progress, remove_guard: bool = False) -> list[str]:
    state = load_state(paths)
    layouts = [layout] + ([state.layout] if state and state.layout != layout else [])

    progress("stopping nodes")
    nspawns: dict[int, int] = {}  # pid: starttime, of every process we asked to stop
    if state is not None:
        for ref in [*state.nodes.values(), *([state.http] if state.http else [])]:
            if signal_pid(ref.pid, signal.SIGTERM, ref.starttime):
                nspawns[ref.pid] = ref.starttime
    for pid in cgroup_pids():
        stat = proc_stat(pid)
        is_nspawn = stat is not None and stat.comm == "systemd-nspawn" and pid not in nspawns
        if is_nspawn and stat is not None and signal_pid(pid, signal.SIGTERM, stat.starttime):
            nspawns[pid] = stat.starttime
    for pid in cgroup_pids("http"):
        signal_pid(pid, signal.SIGTERM)
    wait_dead([*nspawns, *cgroup_pids()], STOP_GRACE)
    for _ in range(3):
        rest = cgroup_pids()
        if not rest:
            break
        for pid in rest:
            signal_pid(pid, signal.SIGKILL)
        wait_dead(rest, 3)
    # Exited is not gone: until its parent reaps it, an nspawn still shows in the process table.
    unreaped = wait_gone(nspawns, REAP_GRACE)
    if unreaped:
        progress(f"{len(unreaped)} exited nspawn processes still wait for the host's PID 1 to reap them")

    progress("unmounting node filesystems")
    for mount in mounts_below(paths.root):
        unmount(mount.mountpoint)
    for mount in mounts():
        if mount.source == NSPAWN_TMPFS:
            unmount(mount.mountpoint)

    problems: list[str] = []
    deadline = time.monotonic() + 5
    while True:
        left = remove_cgroups()
        if not left or time.monotonic() >= deadline:
            problems += [f"cgroup {p}" for p in left]
            break
        time.sleep(0.2)

    progress("removing the bridge and the node directories")
    for lay in layouts:
        for veth in network.leftover_veths(lay):
            run(["ip", "link", "del", veth], check=False)
        network.remove_bridge(lay.bridge)
    for path in (paths.nodes, paths.run):
        try:
            remove_tree(path)
        except PigsaltError as err:
            problems.append(str(err))

    # Last, and only when asked: a packet for the subnet must never find the default route.
    if not problems:
        if remove_guard:
            for lay in layouts:
                network.remove_guard_route(lay)
        clear_state(paths)
    elif remove_guard:
        problems.append("guard route and state file kept until the rest is gone")
    return problems


# --- status, cut, heal, exec -------------------------------------------------------------


def status(paths: SandboxPaths | None = None, *, ask_salt: bool = True) -> Status:
    paths = paths or SandboxPaths()
    state = load_state(paths)
    if state is None:
        found = tuple(leftovers(paths)) if paths.root.exists() else ()
        return Status(exists=False, leftovers=found)
    layout = state.layout
    running = {
        n.name: (ref := state.nodes.get(n.name)) is not None and is_alive(ref.pid, ref.starttime) for n in layout.nodes
    }
    master_up: bool | None = None
    answered: set[str] | None = None
    master_leader = state.leaders.get(layout.master)
    if ask_salt and running.get(layout.master) and master_leader is not None:
        result = nodes.node_run(
            master_leader, ["systemctl", "is-active", "salt-master.service"], check=False, timeout=10
        )
        master_up = result.stdout.strip() == "active"
        if master_up:
            answered = salt.ping(master_leader, [n for n in layout.names if running[n]], timeout=3)
    node_list = tuple(
        NodeStatus(
            name=n.name,
            ip=str(n.ip),
            os=n.os,
            running=running[n.name],
            cut=n.name in state.cut,
            memory=cgroup_memory(n.name) if running[n.name] else None,
            minion=(n.name in answered) if answered is not None else None,
        )
        for n in layout.nodes
    )
    total = sum(n.memory or 0 for n in node_list)
    return Status(
        exists=True,
        phase=state.phase,
        nodes=node_list,
        master=master_up,
        bridge=network.link_exists(layout.bridge),
        guard_route=network.has_guard_route(layout),
        repo_server=state.http is not None and is_alive(state.http.pid, state.http.starttime),
        repo_origin=state.repo_origin,
        memory=total,
    )


def _running_state(paths: SandboxPaths) -> State:
    state = load_state(paths)
    if state is None:
        raise PigsaltError("the sandbox is not up (run `pigsalt sandbox up`)")
    return state


def master_run(
    command: Sequence[str], timeout: float, paths: SandboxPaths | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the sandbox's Salt master node (``salt-run …``)."""
    state = _running_state(paths or SandboxPaths())
    if state.phase != "up":
        raise PigsaltError(f"the sandbox is {state.phase or 'not up'} (run `pigsalt sandbox up`)")
    master = state.layout.master
    return nodes.node_run(leader(master, paths), list(command), check=False, timeout=timeout)


def leader(name: str, paths: SandboxPaths | None = None) -> int:
    """PID 1 of node ``name`` as the host sees it, checked to be alive."""
    state = _running_state(paths or SandboxPaths())
    state.layout.node(name)
    ref = state.nodes.get(name)
    pid = state.leaders.get(name)
    if ref is None or pid is None or not is_alive(ref.pid, ref.starttime) or not is_alive(pid):
        raise PigsaltError(f"node {name} is not running")
    return pid


def cut(name: str, paths: SandboxPaths | None = None) -> None:
    """Take node ``name`` off the network (its veth on the host goes down)."""
    paths = paths or SandboxPaths()
    require_root()
    with locked(paths):
        state = _running_state(paths)
        node = state.layout.node(name)
        run(network.cut_argv(node))
        if name not in state.cut:
            state.cut.append(name)
        save_state(paths, state)


def heal(name: str, paths: SandboxPaths | None = None) -> None:
    """Put node ``name`` back on the network."""
    paths = paths or SandboxPaths()
    require_root()
    with locked(paths):
        state = _running_state(paths)
        node = state.layout.node(name)
        run(network.heal_argv(node))
        if name in state.cut:
            state.cut.remove(name)
        save_state(paths, state)
