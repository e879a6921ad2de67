"""Small, explicit wrappers around the host: commands, processes, cgroups and mounts.

Everything here runs argument lists (never a shell) and reads /proc and /sys
directly, because the host has no systemd to ask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pigsalt.errors import PigsaltError

Progress = Callable[[str], None]

# The cgroup hierarchies a node is placed in. nspawn needs its own group in the
# named "systemd" v1 hierarchy and in the unified one (the host has no systemd to
# delegate them); the memory group is how the sandbox measures what a node uses.
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_HIERARCHIES = ("systemd", "unified", "memory")
CGROUP_NAME = "pigsalt-sandbox"

REQUIRED_TOOLS = ("systemd-nspawn", "nsenter", "ip", "mount", "umount")


def no_progress(_message: str) -> None:
    """The default progress callback: say nothing."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise PigsaltError("the sandbox needs root (it creates a bridge, mounts and containers)")


def require_tools(tools: Iterable[str] = REQUIRED_TOOLS) -> dict[str, str]:
    """Absolute paths of ``tools``; one error naming every missing one and its package."""
    packages = {
        "systemd-nspawn": "systemd-container",
        "mmdebstrap": "mmdebstrap",
        "nsenter": "util-linux",
        "ip": "iproute2",
        "mount": "mount",
        "umount": "mount",
    }
    found: dict[str, str] = {}
    missing: list[str] = []
    for tool in tools:
        path = shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if path is None:
            missing.append(f"{tool} (apt-get install {packages.get(tool, tool)})")
        else:
            found[tool] = path
    if missing:
        raise PigsaltError("missing tools: " + ", ".join(missing))
    return found


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 300,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``, capture its output; raise ``PigsaltError`` with its stderr on failure."""
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as err:
        raise PigsaltError(f"{argv[0]}: not found") from err
    except subprocess.TimeoutExpired as err:
        raise PigsaltError(f"{' '.join(argv)}: no answer within {timeout:.0f} s") from err
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise PigsaltError(f"{' '.join(argv)}: {last}")
    return result


# --- processes ---------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat the sandbox needs."""

    pid: int
    comm: str
    state: str
    ppid: int
    starttime: int

    @property
    def alive(self) -> bool:
        """Running or sleeping; a zombie (Z) or dead (X) process is not."""
        return self.state not in ("Z", "X", "x")


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/PID/stat; ``comm`` may hold spaces and parentheses."""
    left = text.index("(")
    right = text.rindex(")")
    rest = text[right + 2 :].split()
    return ProcStat(
        pid=int(text[:left].strip()),
        comm=text[left + 1 : right],
        state=rest[0],
        ppid=int(rest[1]),
        starttime=int(rest[19]),
    )


def proc_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def is_alive(pid: int, starttime: int | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if given, is the process started at ``starttime``."""
    stat = proc_stat(pid)
    if stat is None or not stat.alive:
        return False
    return starttime is None or stat.starttime == starttime


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (scans /proc: the host may lack /proc/PID/task/*/children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.ppid == pid:
                found.append(stat.pid)
    return sorted(found)


def ns_pid(pid: int) -> int | None:
    """The PID of ``pid`` inside its innermost PID namespace (NSpid's last field)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def signal_pid(pid: int, sig: signal.Signals, starttime: int | None = None) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the same live process."""
    if not is_alive(pid, starttime):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is an exited child of this process (else nothing)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_while(pids: Iterable[int], present: Callable[[int], bool], timeout: float) -> list[int]:
    """Poll until ``present(pid)`` is false for every pid, reaping exited children of this
    process on the way; return those still present after ``timeout``."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        for pid in pending:
            reap(pid)
        pending = {pid for pid in pending if present(pid)}
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return sorted(pending)


def wait_dead(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive after ``timeout``.

    Exited children of this process are reaped on the way (a process that started the nodes
    and takes them down again, a test run, must not leave zombies behind)."""
    return _wait_while(pids, is_alive, timeout)


def wait_gone(procs: Mapping[int, int], timeout: float) -> list[int]:
    """Wait until the processes ``{pid: starttime}`` have left the process table (exited and
    reaped); return those still there. A process whose parent has exited is reaped by PID 1,
    which on this host does so late."""

    def present(pid: int) -> bool:
        stat = proc_stat(pid)
        return stat is not None and stat.starttime == procs[pid]

    return _wait_while(procs, present, timeout)


# --- cgroups -----------------------------------------------------------------


def cgroup_dirs(group: str, top: str = CGROUP_NAME) -> list[Path]:
    """``group`` (a path below ``top``, the sandbox cgroup unless said) in every hierarchy that exists."""
    return [CGROUP_ROOT / h / top / group for h in CGROUP_HIERARCHIES if (CGROUP_ROOT / h).is_dir()]


def create_cgroup(group: str, top: str = CGROUP_NAME) -> list[Path]:
    dirs = cgroup_dirs(group, top)
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
    return dirs


def spawn_in_cgroup(group: str, argv: Sequence[str], log: Path) -> ProcStat | None:
    """Start ``argv`` detached, in its own sandbox cgroup ``group``, its output appended to ``log``.

    Returns the process, or None when it exited at once.
    """
    cgroups = create_cgroup(group)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=join_cgroups(cgroups),
        )
    return proc_stat(proc.pid)


def join_cgroups(dirs: Sequence[Path]) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into ``dirs`` before it execs."""
    procs = [str(d / "cgroup.procs") for d in dirs]

    def _join() -> None:
        for path in procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    return _join


def _cgroup_tree(top: Path) -> list[Path]:
    """``top`` and every cgroup below it; the containers' systemd removes groups as we walk."""
    found = []
    for dirpath, _dirnames, _files in os.walk(top, onerror=lambda _err: None):
        found.append(Path(dirpath))
    return found


def cgroup_pids(group: str = "") -> list[int]:
    """Every process in the sandbox cgroup ``group`` and below (any hierarchy)."""
    pids: set[int] = set()
    tops = cgroup_dirs(group) if group else [CGROUP_ROOT / h / CGROUP_NAME for h in CGROUP_HIERARCHIES]
    for top in tops:
        for path in _cgroup_tree(top):
            try:
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
    return sorted(pids)


def remove_cgroups(group: str = "", top: str = CGROUP_NAME) -> list[str]:
    """Remove the cgroup tree ``top`` (the sandbox's unless said), or its group ``group``, in every
    hierarchy, deepest first.

    Returns the directories that could not be removed (still holding processes).
    """
    if not top:
        raise ValueError("remove_cgroups needs a top cgroup: it would walk the whole hierarchy")
    left: list[str] = []
    for hierarchy in CGROUP_HIERARCHIES:
        tree = CGROUP_ROOT / hierarchy / top / group  # the whole of top when group is ""
        if not tree.is_dir():
            continue
        for path in sorted(_cgroup_tree(tree), key=lambda p: len(p.parts), reverse=True):
            try:
                path.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                left.append(str(path))
    return left


def cgroup_memory(group: str) -> int | None:
    """Working-set bytes of a sandbox cgroup: usage less inactive page cache."""
    base = CGROUP_ROOT / "memory" / CGROUP_NAME / group
    try:
        usage = int((base / "memory.usage_in_bytes").read_text())
    except (OSError, ValueError):
        current = CGROUP_ROOT / "unified" / CGROUP_NAME / group / "memory.current"
        try:
            return int(current.read_text())
        except (OSError, ValueError):
            return None
    inactive = 0
    try:
        for line in (base / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "total_inactive_file":
                inactive = int(value)
    except (OSError, ValueError):
        pass
    return max(usage - inactive, 0)


# --- mounts ------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    mountpoint: Path
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (\\040 for a space, ...)."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and i + 4 <= len(field):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        mounts.append(
            Mount(
                mountpoint=Path(_unescape(fields[4])),
                fstype=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
            )
        )
    return mounts


def mounts() -> list[Mount]:
    return parse_mountinfo(Path("/proc/self/mountinfo").read_text())


def mounts_below(path: Path) -> list[Mount]:
    """Mounts at or below ``path``, deepest first (the order to unmount them)."""
    found = [m for m in mounts() if m.mountpoint == path or path in m.mountpoint.parents]
    return sorted(found, key=lambda m: len(m.mountpoint.parts), reverse=True)


def is_mountpoint(path: Path) -> bool:
    return any(m.mountpoint == path for m in mounts())


def unmount(path: Path) -> None:
    """Unmount ``path``; fall back to a lazy unmount when something still holds it."""
    result = run(["umount", str(path)], check=False, timeout=30)
    if result.returncode != 0 and is_mountpoint(path):
        run(["umount", "--lazy", str(path)], timeout=30)


def remove_tree(path: Path) -> None:
    """``rm -rf path``, refusing when anything is still mounted below it.

    shutil.rmtree would descend into a mount, and a node's root may hold bind
    mounts of the project tree.
    """
    if not path.exists() and not path.is_symlink():
        return
    held = mounts_below(path)
    if held:
        raise PigsaltError(f"{path}: still mounted at {held[0].mountpoint}; not removing")
    shutil.rmtree(path)
