"""Parsing /proc and /proc/self/mountinfo; the state file round trip; no root needed."""

from __future__ import annotations

from pathlib import Path

from pigsalt.sandbox.layout import DEFAULT_LAYOUT, SandboxPaths
from pigsalt.sandbox.state import ProcRef, State, load_state, save_state
from pigsalt.sandbox.system import Mount, ProcStat, parse_mountinfo, parse_stat

STAT = "4242 (systemd-nspawn) S 1 4242 4242 0 -1 4194560 300 0 0 0 1 2 0 0 20 0 1 0 987654 10000 100 0"


def test_parse_stat() -> None:
    assert parse_stat(STAT) == ProcStat(pid=4242, comm="systemd-nspawn", state="S", ppid=1, starttime=987654)


def test_parse_stat_with_parentheses_and_spaces_in_comm() -> None:
    stat = parse_stat(STAT.replace("(systemd-nspawn)", "(a (b) c)").replace(" S 1", " Z 1"))
    assert (stat.comm, stat.state, stat.alive) == ("a (b) c", "Z", False)


def test_parse_mountinfo_unescapes_and_keeps_source() -> None:
    text = (
        "36 35 98:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "90 36 0:50 / /var/lib/pigsalt/sandbox/nodes/meta/root rw - overlay pigsalt-meta "
        "rw,lowerdir=/a:/b,upperdir=/u,workdir=/w\n"
        "91 36 0:51 / /tmp/with\\040space rw - tmpfs pigsalt-nspawn rw\n"
    )
    assert parse_mountinfo(text) == [
        Mount(Path("/"), "ext4", "/dev/vda"),
        Mount(Path("/var/lib/pigsalt/sandbox/nodes/meta/root"), "overlay", "pigsalt-meta"),
        Mount(Path("/tmp/with space"), "tmpfs", "pigsalt-nspawn"),
    ]


def test_state_round_trip(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path)
    state = State(
        layout=DEFAULT_LAYOUT,
        phase="up",
        repo="/var/lib/pigsalt/repo",
        signed=True,
        http=ProcRef(10, 20),
        nodes={"meta": ProcRef(11, 21)},
        leaders={"meta": 12},
        cut=["node-2"],
    )
    save_state(paths, state)
    assert load_state(paths) == state


def test_unreadable_state_is_no_state(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path)
    assert load_state(paths) is None
    paths.state_file.write_text("{not json")
    assert load_state(paths) is None
