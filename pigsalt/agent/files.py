"""Configuration files the states and the Patroni callback replace, then have a service re-read.

One way to look at a file (content, mode, owner), to replace it atomically with its mode and
owner set before it appears (``pigsalt.fileio``, standard library only like this package), to
put the previous one back when the service refuses the new one, and to signal a service.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import stat
from pathlib import Path
from typing import NamedTuple

from pigsalt import fileio

__all__ = ["NOT_RUNNING", "Found", "hup", "owner_name", "put", "restore", "write"]

# What a reload's error says when the service is not running (it reads its files when it starts).
NOT_RUNNING = re.compile(r"is not running|No such file or directory|Connection refused")


class Found(NamedTuple):
    """A file as found on disk: content, mode and owner (all None when absent)."""

    data: bytes | None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def read(cls, path: Path) -> Found:
        try:
            data = path.read_bytes()
            info = path.stat()
        except FileNotFoundError:
            return cls(None)
        return cls(data, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    @property
    def text(self) -> str | None:
        return None if self.data is None else self.data.decode("utf-8", errors="replace")


def write(path: Path, data: bytes, mode: int, uid: int, gid: int) -> None:
    """Replace ``path`` atomically, mode and owner set before it appears."""
    fileio.write_bytes_atomic(path, data, mode, owner=(uid, gid))


def restore(path: Path, old: Found) -> None:
    """Put ``old`` back (or remove ``path`` if there was no file)."""
    if old.data is None:
        path.unlink(missing_ok=True)
        return
    assert old.mode is not None and old.uid is not None and old.gid is not None
    write(path, old.data, old.mode, old.uid, old.gid)


def put(path: Path, data: bytes) -> None:
    """Replace an existing ``path``'s content, keeping its mode and owner.

    Atomic where the directory lets this user create a file; in place otherwise (the dbsu may
    write ``/etc/pgbouncer/pgb_hba.conf`` but not create files in ``/etc/pgbouncer``).
    """
    info = path.stat()
    try:
        write(path, data, info.st_mode & 0o7777, info.st_uid, info.st_gid)
    except PermissionError:
        with path.open("r+b") as handle:
            handle.truncate(0)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def owner_name(uid: int, gid: int) -> str:
    """``user:group`` for a message (the numbers where a name is unknown)."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"


def hup(pidfile: Path) -> bool:
    """SIGHUP the process whose pid ``pidfile`` holds (it re-reads its files); False when it is not running."""
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return False
    return True
