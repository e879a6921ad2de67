"""The parsed inventory, kept between ext_pillar calls while its files stay the same.

Salt calls the ext_pillar once per minion, and a whole-fleet pillar refresh calls it once for
every minion in a few master worker processes. Reading and validating an inventory of 1,000
clusters takes about a second, compiling one node's pillar a fraction of a millisecond: so each
process parses an inventory once per version of its files and compiles every node from that.

A version is the content of the files the loader reads (``pigsty.yml``, or ``all.yml`` and
``clusters/*.yml`` of a pillar directory), hashed. Each call first compares every file's
``(inode, size, mtime, ctime)`` with what was recorded; only when one differs, or when a file
was modified too recently for its timestamps to be trusted (two writes within one timestamp
tick look the same), are the files read and hashed, and parsed only when the hash differs. An
invalid inventory is remembered too, so that every minion gets the same error without parsing
again. The secrets file is stat'ed the same way and read again whenever its status changed; it is
never written here (``secrets.resolve``: a missing store, a missing password or a file others
can read is an error, which every minion gets until ``pigsalt pillar build`` fixes it).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pigsalt.errors import PigsaltError
from pigsalt.inventory import load as loader
from pigsalt.inventory.model import Inventory, open_inventory
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.compile import _Memo, compile_node, needed_secrets
from pigsalt.pillar.secrets import Store

# Inventories (inventory path, secrets path) kept at once; each keeps only its latest version.
MAX_INVENTORIES = 4
# A file modified less than this long before its status was recorded may change again within
# the same timestamp tick without its status showing it: it is hashed on each call until then.
RACY_NS = 2_000_000_000
# A version whose files were checked less than this long ago is used without checking again:
# a fleet refresh then stats a pillar directory's 1,000 files five times a second, not once
# per minion (≈ 10 ms a pass here, against ≈ 0.6 ms per minion's pillar). An edit reaches the
# pillar within this delay.
RECHECK_NS = 200_000_000
# Attempts at reading an inventory whose files do not change while it is read.
READ_ATTEMPTS = 3

Stat = tuple[int, int, int, int, int]


def _stat(path: str, dir_fd: int | None = None) -> Stat | None:
    try:
        st = os.stat(path, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def _digest(files: tuple[Path, ...]) -> bytes:
    digest = hashlib.blake2b(digest_size=32)
    for path in files:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError as err:
            digest.update(f"\0unreadable: {err.errno}".encode())
        digest.update(b"\0\0")
    return digest.digest()


@dataclass(frozen=True)
class Snapshot:
    """The files the loader reads for an inventory and the status of each (and of the
    directories they are listed from), taken at one moment.

    A snapshot is ``racy`` when a file was modified less than ``RACY_NS`` before it was taken:
    a second write within the same timestamp tick would leave the status unchanged."""

    root: Path
    names: tuple[str, ...] | None  # a pillar directory's cluster files; None: a single file
    stats: tuple[Stat | None, ...]
    dirs: tuple[Stat | None, ...]
    racy: bool

    @classmethod
    def take(cls, root: Path, known: Snapshot | None = None) -> Snapshot:
        """The status of ``root``'s files. The listing of a pillar directory's cluster files
        is reused from ``known`` while the directories' status says it cannot have changed."""
        taken = time.time_ns()
        top = _stat(str(root))
        if top is None or not stat.S_ISDIR(top[4]):
            return cls._of(root, None, (top,), (), taken)
        clusters = root / loader.CLUSTERS_DIR
        dirs = (top, _stat(str(clusters)))
        names: tuple[str, ...] = ()
        if known is not None and known.names is not None and not known.racy and known.dirs == dirs:
            names = known.names
        elif dirs[1] is not None and stat.S_ISDIR(dirs[1][4]):
            names = tuple(sorted(n for n in os.listdir(clusters) if fnmatch.fnmatchcase(n, "*.yml")))
        stats = [_stat(str(root / loader.ALL_FILE))]
        if names:
            try:
                fd = os.open(clusters, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:  # gone meanwhile: the next snapshot differs
                stats += [None] * len(names)
            else:
                try:
                    stats += [_stat(n, fd) for n in names]
                finally:
                    os.close(fd)
        return cls._of(root, names, tuple(stats), dirs, taken)

    @classmethod
    def _of(
        cls,
        root: Path,
        names: tuple[str, ...] | None,
        stats: tuple[Stat | None, ...],
        dirs: tuple[Stat | None, ...],
        taken: int,
    ) -> Snapshot:
        newest = max((s[2] for s in (*stats, *dirs) if s is not None), default=0)
        return cls(root, names, stats, dirs, newest > taken - RACY_NS)

    @property
    def files(self) -> tuple[Path, ...]:
        """The files in the loader's order (``load.load``: the file, or ``all.yml`` and the
        sorted ``clusters/*.yml``)."""
        if self.names is None:
            return (self.root,)
        clusters = self.root / loader.CLUSTERS_DIR
        return (self.root / loader.ALL_FILE, *(clusters / n for n in self.names))

    def same(self, now: Snapshot) -> bool:
        """True when ``now`` proves the files have not changed since this snapshot."""
        return not self.racy and self.names == now.names and self.dirs == now.dirs and self.stats == now.stats


@dataclass
class _Secrets:
    snapshot: Snapshot
    values: Store


@dataclass
class Version:
    """One version of an inventory's files: the model (or why there is none), and what its
    nodes' pillars share."""

    snapshot: Snapshot
    digest: bytes
    inventory: Inventory | None
    error: PigsaltError | None
    secrets: _Secrets | None = None
    memo: _Memo = field(default_factory=_Memo)
    checked: int = field(default_factory=time.monotonic_ns)  # when the files were last compared


class InventoryCache:
    """Versions of a few inventories in this process; safe to share between threads."""

    def __init__(self, size: int = MAX_INVENTORIES, recheck_ns: int = RECHECK_NS) -> None:
        self.size = size
        self.recheck_ns = recheck_ns
        self.loads = 0  # inventories parsed (for tests and the benchmark)
        self._versions: OrderedDict[tuple[Path, Path], Version] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()
            self.loads = 0

    def node_pillar(self, inventory: Path, node: str, secrets_file: Path | None = None) -> dict[str, Any]:
        """What ``build.node_pillar`` returns for ``node`` (the pillar alone), from the cached
        version of ``inventory`` when its files have not changed."""
        inventory = inventory.absolute()
        secrets_path = (secrets_file or secret_store.secrets_path(inventory)).absolute()
        with self._lock:
            version = self._current(inventory, secrets_path)
            if version.error is not None:
                raise version.error.with_traceback(None)
            assert version.inventory is not None
            values, memo = self._secrets(version, secrets_path)
            target = version.inventory.node(node)  # indexed by name, IP and instance
        return compile_node(version.inventory, target, values, memo)

    def _current(self, inventory: Path, secrets_path: Path) -> Version:
        key = (inventory, secrets_path)
        cached = self._versions.get(key)
        if cached is not None and time.monotonic_ns() - cached.checked < self.recheck_ns:
            self._versions.move_to_end(key)
            return cached
        now = Snapshot.take(inventory, cached.snapshot if cached is not None else None)
        if cached is not None:
            self._versions.move_to_end(key)
            if cached.snapshot.same(now):
                cached.checked = time.monotonic_ns()
                return cached
        version = self._read(inventory, now, cached)
        self._versions[key] = version
        self._versions.move_to_end(key)
        while len(self._versions) > self.size:
            self._versions.popitem(last=False)
        return version

    def _read(self, inventory: Path, snapshot: Snapshot, cached: Version | None) -> Version:
        """The version the files hold now: ``cached`` if their content is the same, else parsed
        (again, if a file changed while it was read)."""
        for _ in range(READ_ATTEMPTS):
            files = snapshot.files
            digest = _digest(files)
            if cached is not None and cached.snapshot.names == snapshot.names and cached.digest == digest:
                cached.snapshot = snapshot
                cached.checked = time.monotonic_ns()
                return cached
            self.loads += 1
            model: Inventory | None = None
            error: PigsaltError | None = None
            read: tuple[Path, ...] = files
            try:
                model, loaded = open_inventory(inventory)
                read = loaded.source.files
            except PigsaltError as err:
                error = err
            if read == files and _digest(files) == digest:
                return Version(snapshot, digest, model, error)
            snapshot = Snapshot.take(inventory)  # a file changed, came or went meanwhile
        raise PigsaltError(f"{inventory}: the files kept changing while they were read; try again")

    @staticmethod
    def _secrets(version: Version, path: Path) -> tuple[Store, _Memo]:
        """The stored secrets, read again (and completed) when the file's status changed."""
        assert version.inventory is not None
        held = version.secrets
        # Taken before reading: a change made meanwhile shows at the next call.
        snapshot = Snapshot.take(path)
        if held is not None and held.snapshot.same(snapshot):
            return held.values, version.memo
        values = secret_store.resolve(secret_store.read(path), needed_secrets(version.inventory), path)
        if held is None or held.values != values:
            version.memo = _Memo()
        version.secrets = _Secrets(snapshot, values)
        return values, version.memo


# The cache of this process (a master worker): the ext_pillar's.
CACHE = InventoryCache()


def node_pillar(inventory: Path, node: str, secrets_file: Path | None = None) -> dict[str, Any]:
    """``InventoryCache.node_pillar`` of this process's cache."""
    return CACHE.node_pillar(inventory, node, secrets_file)
