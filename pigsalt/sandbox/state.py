"""What the sandbox has created, written after every step so a crash can be undone."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pigsalt.errors import PigsaltError
from pigsalt.sandbox.layout import Layout, SandboxPaths

STATE_VERSION = 1


@dataclass(frozen=True)
class ProcRef:
    """A process we started, pinned by its start time so a reused PID is never signalled."""

    pid: int
    starttime: int

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "starttime": self.starttime}

    @classmethod
    def from_dict(cls, data: object) -> ProcRef | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(int(data["pid"]), int(data["starttime"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class State:
    layout: Layout
    phase: str = "starting"  # starting | up
    project_dir: str = ""
    inventory_dir: str = ""
    repo: str = ""
    repo_origin: str = ""
    signed: bool = False
    image: list[str] = field(default_factory=list)
    http: ProcRef | None = None
    nodes: dict[str, ProcRef] = field(default_factory=dict)
    leaders: dict[str, int] = field(default_factory=dict)
    cut: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "phase": self.phase,
            "layout": self.layout.to_dict(),
            "project_dir": self.project_dir,
            "inventory_dir": self.inventory_dir,
            "repo": self.repo,
            "repo_origin": self.repo_origin,
            "signed": self.signed,
            "image": self.image,
            "http": self.http.to_dict() if self.http else None,
            "nodes": {name: ref.to_dict() for name, ref in self.nodes.items()},
            "leaders": self.leaders,
            "cut": self.cut,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> State:
        layout_data = data.get("layout")
        if not isinstance(layout_data, dict):
            raise ValueError("no layout")
        nodes_data = data.get("nodes") or {}
        leaders = data.get("leaders") or {}
        nodes: dict[str, ProcRef] = {}
        if isinstance(nodes_data, dict):
            for name, ref_data in nodes_data.items():
                ref = ProcRef.from_dict(ref_data)
                if ref is not None:
                    nodes[str(name)] = ref
        image = data.get("image") or []
        cut = data.get("cut") or []
        return cls(
            layout=Layout.from_dict(layout_data),
            phase=str(data.get("phase", "starting")),
            project_dir=str(data.get("project_dir", "")),
            inventory_dir=str(data.get("inventory_dir", "")),
            repo=str(data.get("repo", "")),
            repo_origin=str(data.get("repo_origin", "")),
            signed=bool(data.get("signed", False)),
            image=[str(p) for p in image] if isinstance(image, list) else [],
            http=ProcRef.from_dict(data.get("http")),
            nodes=nodes,
            leaders={str(k): int(v) for k, v in leaders.items()} if isinstance(leaders, dict) else {},
            cut=[str(c) for c in cut] if isinstance(cut, list) else [],
        )


def load_state(paths: SandboxPaths) -> State | None:
    """The recorded state, or None when there is none or it cannot be read."""
    try:
        data = json.loads(paths.state_file.read_text())
        return State.from_dict(data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError, PigsaltError):
        return None


def save_state(paths: SandboxPaths, state: State) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    tmp = paths.state_file.with_name(paths.state_file.name + ".tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=1) + "\n")
    os.replace(tmp, paths.state_file)


def clear_state(paths: SandboxPaths) -> None:
    paths.state_file.unlink(missing_ok=True)


@contextmanager
def locked(paths: SandboxPaths) -> Iterator[None]:
    """One ``up``/``down``/``cut``/``heal`` at a time."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise PigsaltError(f"another pigsalt sandbox command is running (lock {paths.lock_file})") from err
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
