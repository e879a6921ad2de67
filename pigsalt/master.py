"""``pigsalt master setup``: point a Salt master at a pigsalt project.

The same code configures a real master and the sandbox's ``meta`` node. It writes
one file, ``<config_dir>/master.d/pigsalt.conf``, plus a directory of symlinks that
puts the project's ``_modules/`` and ``_states/`` on the fileserver so that
``saltutil.sync_all`` finds them. Minions get ``<config_dir>/minion.d/pigsalt.conf``
from ``pigsalt master minion-config``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_atomic, write_bytes_atomic

DEFAULT_CONFIG_DIR = Path("/etc/salt")
DEFAULT_EXTENSIONS_DIR = Path("/var/lib/pigsalt/master/extensions")
CONFIG_NAME = "pigsalt.conf"
HEADER = "# Written by `pigsalt {command}`; run it again rather than editing this file.\n"

# Project directories that Salt syncs to minions (or to the master for runners)
# from the fileserver root: _modules and _states always, the others when present.
EXTENSION_DIRS = ("_modules", "_states", "_utils", "_grains", "_runners", "_pillar")
REQUIRED_EXTENSION_DIRS = ("_modules", "_states")

# A reactor SLS names the event tags it answers in a header comment, e.g.
# "# reactor-tag: pigsalt/patroni/failover"; without one its tag is pigsalt/<stem>.
_REACTOR_TAG_RE = re.compile(r"^#\s*reactor-tag:\s*(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class MasterSettings:
    """What ``master setup`` needs to know; paths as the master sees them."""

    project_dir: Path
    inventory_dir: Path
    config_dir: Path = DEFAULT_CONFIG_DIR
    extensions_dir: Path = DEFAULT_EXTENSIONS_DIR
    worker_threads: int | None = None
    # Where the ext_pillar reads the inventory: "files" (inventory_dir) or "cmdb" (pg-meta's
    # CMDB, reached with what inventory_dir says about pg-meta: pigsalt.cmdb.source).
    pillar_source: str = "files"
    # Pinned at setup (default: this host's short name + "_master"). Salt 3008 names the master's
    # key after its id, which otherwise follows the host's FQDN: once pigsty.infra puts
    # "10.10.10.10 repo.pigsty ..." in /etc/hosts, the next master restart would come up as
    # repo.pigsty_master under a different key and every minion would refuse it.
    master_id: str = field(default_factory=lambda: socket.gethostname().split(".")[0] + "_master")

    @property
    def salt_dir(self) -> Path:
        return self.project_dir / "salt"

    @property
    def pillar_dir(self) -> Path:
        return self.project_dir / "pillar"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "master.d" / CONFIG_NAME


@dataclass(frozen=True)
class Reactor:
    tag: str
    sls: str  # salt:// URL


@dataclass(frozen=True)
class SetupResult:
    config_file: Path
    extensions_dir: Path
    changed: bool


def default_project_dir() -> Path | None:
    """The checkout pigsalt runs from, when it has the formula directories."""
    candidate = Path(__file__).resolve().parent.parent
    if (candidate / "salt").is_dir() and (candidate / "pillar").is_dir():
        return candidate
    return None


def find_reactors(salt_dir: Path) -> list[Reactor]:
    """One reactor entry per ``salt/reactor/*.sls``, in file-name order."""
    reactors = []
    for sls in sorted((salt_dir / "reactor").glob("*.sls")):
        tags = _REACTOR_TAG_RE.findall(sls.read_text(errors="replace")) or [f"pigsalt/{sls.stem}"]
        for tag in tags:
            reactors.append(Reactor(tag=tag, sls=f"salt://reactor/{sls.name}"))
    return reactors


PILLAR_SOURCES = ("files", "cmdb")


def _ext_pillar(settings: MasterSettings) -> dict[str, str]:
    if settings.pillar_source not in PILLAR_SOURCES:
        raise PigsaltError(f"pillar source {settings.pillar_source!r}: one of {', '.join(PILLAR_SOURCES)}")
    entry = {"inventory": str(settings.inventory_dir)}
    if settings.pillar_source != "files":
        entry["source"] = settings.pillar_source
    return entry


def master_config(settings: MasterSettings, reactors: list[Reactor] | None = None) -> dict[str, object]:
    """The master settings as data (reactors default to those found in the project)."""
    if reactors is None:
        reactors = find_reactors(settings.salt_dir)
    config: dict[str, object] = {
        "id": settings.master_id,
        "file_roots": {"base": [str(settings.salt_dir), str(settings.extensions_dir)]},
        "pillar_roots": {"base": [str(settings.pillar_dir)]},
        "ext_pillar": [{"pigsalt": _ext_pillar(settings)}],
        "auto_accept": False,
        "open_mode": False,
    }
    if reactors:
        by_tag: dict[str, list[str]] = {}
        for reactor in reactors:
            by_tag.setdefault(reactor.tag, []).append(reactor.sls)
        config["reactor"] = [{tag: sls} for tag, sls in by_tag.items()]
    if settings.worker_threads is not None:
        config["worker_threads"] = settings.worker_threads
    return config


def render_master_config(settings: MasterSettings, reactors: list[Reactor] | None = None) -> str:
    body = yaml.safe_dump(master_config(settings, reactors), sort_keys=False, default_flow_style=False)
    return HEADER.format(command="master setup") + body


def check_project(settings: MasterSettings) -> None:
    """Every missing project directory in one error."""
    missing = [
        str(path)
        for path in (
            settings.salt_dir,
            settings.pillar_dir,
            *(settings.project_dir / d for d in REQUIRED_EXTENSION_DIRS),
        )
        if not path.is_dir()
    ]
    if missing:
        raise PigsaltError(f"{settings.project_dir} is not a pigsalt project: missing " + ", ".join(missing))


def extension_links(settings: MasterSettings) -> dict[str, Path]:
    """Link name → project directory, for each extension directory the project has."""
    return {
        name: settings.project_dir / name
        for name in EXTENSION_DIRS
        if name in REQUIRED_EXTENSION_DIRS or (settings.project_dir / name).is_dir()
    }


def _link(link: Path, target: Path) -> bool:
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return False
        link.unlink()
    elif link.exists():
        raise PigsaltError(f"{link} exists and is not a symlink; move it away first")
    link.symlink_to(target, target_is_directory=True)
    return True


def setup(settings: MasterSettings) -> SetupResult:
    """Write the master config and the extension links; report whether anything changed."""
    check_project(settings)
    changed = write_atomic(settings.config_file, render_master_config(settings))
    settings.extensions_dir.mkdir(parents=True, exist_ok=True)
    wanted = extension_links(settings)
    for name, target in wanted.items():
        changed = _link(settings.extensions_dir / name, target) or changed
    for stale in settings.extensions_dir.iterdir():
        if stale.name not in wanted and stale.is_symlink():
            stale.unlink()
            changed = True
    return SetupResult(settings.config_file, settings.extensions_dir, changed)


# --- minions -------------------------------------------------------------------


@dataclass(frozen=True)
class MinionSettings:
    master: str
    minion_id: str
    config_dir: Path = DEFAULT_CONFIG_DIR
    master_finger: str | None = None
    # Seconds a minion waits before asking again whether its key was accepted; None
    # keeps Salt's default (10). The sandbox uses 1: it accepts keys within seconds.
    acceptance_wait_time: int | None = None

    @property
    def config_file(self) -> Path:
        return self.config_dir / "minion.d" / CONFIG_NAME


def minion_config(settings: MinionSettings) -> dict[str, object]:
    if not settings.minion_id or not re.fullmatch(r"[A-Za-z0-9._-]+", settings.minion_id):
        raise PigsaltError(f"minion id {settings.minion_id!r}: use letters, digits, '.', '_', '-'")
    if not settings.master:
        raise PigsaltError("the master address is empty")
    config: dict[str, object] = {
        "master": settings.master,
        "id": settings.minion_id,
    }
    if settings.acceptance_wait_time is not None:
        config["acceptance_wait_time"] = settings.acceptance_wait_time
    if settings.master_finger:
        config["master_finger"] = settings.master_finger
    return config


def render_minion_config(settings: MinionSettings) -> str:
    body = yaml.safe_dump(minion_config(settings), sort_keys=False, default_flow_style=False)
    return HEADER.format(command="master minion-config") + body


def write_minion_config(settings: MinionSettings) -> bool:
    """Write the minion config; report whether it changed."""
    return write_atomic(settings.config_file, render_minion_config(settings))


# --- minion keys ---------------------------------------------------------------------------

DEFAULT_PKI_DIR = Path("/etc/salt/pki/master")
_FINGER_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15,63}$")


def pem_finger(pem: str) -> str:
    """The fingerprint ``salt-call --local key.finger`` prints on the minion for this key.

    Salt 3008.3's ``salt-key -f`` hashes the key text differently (saltstack/salt#69970), so
    the master's side is computed here from the key file with the minion's algorithm:
    SHA-256 of the PEM body lines, with their newlines, as ``aa:bb:…``.
    """
    lines = [line for line in pem.replace("\r\n", "\n").splitlines(keepends=True) if line.strip()]
    body = "".join(line if line.endswith("\n") else line + "\n" for line in lines[1:-1])
    digest = hashlib.sha256(body.encode()).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass(frozen=True)
class AcceptResult:
    minion_id: str
    finger: str
    already: bool


def accept_minion(minion_id: str, finger: str, pki_dir: Path = DEFAULT_PKI_DIR) -> AcceptResult:
    """Accept ``minion_id``'s pending key only if it has ``finger`` (what the node printed).

    A key already accepted with that fingerprint is fine; any other mismatch is refused and
    changes nothing.

    The key moves the way Salt's default key store (``localfs_key``) holds it, but in the
    order that leaves no gap: written to ``minions/`` first, then removed from
    ``minions_pre/``. ``salt-key --accept`` deletes the pending key before it writes the
    accepted one, and a pending minion's auth request that falls into that gap finds no key
    and stores it as pending again, deleting the accepted one (Salt 3008.3; seen in CI, five
    times running for one node). The master reads ``minions_pre/`` before ``minions/``, so while
    both exist it still answers "pending" and stores nothing.
    """
    finger = finger.strip().lower()
    if not _FINGER_RE.match(finger):
        raise PigsaltError(f"--finger {finger!r}: expected the aa:bb:… output of `salt-call --local key.finger`")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", minion_id):
        raise PigsaltError(f"minion id {minion_id!r}: use letters, digits, '.', '_', '-'")
    accepted = pki_dir / "minions" / minion_id
    pending = pki_dir / "minions_pre" / minion_id
    if accepted.is_file() and not pending.is_file():
        held = pem_finger(accepted.read_text())
        if held != finger:
            raise PigsaltError(f"{minion_id}: the accepted key has fingerprint {held}, not {finger}; check the node")
        return AcceptResult(minion_id, finger, already=True)
    if not pending.is_file():
        raise PigsaltError(f"{minion_id}: no pending key on this master ({pending}); is its minion running?")
    pem = pending.read_text()
    held = pem_finger(pem)
    if held != finger:
        raise PigsaltError(f"{minion_id}: refusing the pending key: it has fingerprint {held}, the node has {finger}")
    info = pending.stat()
    write_bytes_atomic(accepted, pem.encode(), mode=info.st_mode & 0o777, owner=(info.st_uid, info.st_gid))
    pending.unlink(missing_ok=True)
    return AcceptResult(minion_id, finger, already=False)
