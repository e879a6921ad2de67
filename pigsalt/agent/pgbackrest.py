"""pgBackRest on a member, as the database superuser: the stanza, backups and what the
repository holds.

Every command runs ``pgbackrest --config=<file> --stanza=<cluster> …`` as the dbsu (the
configuration holds the repository's passphrase and is readable by that user only); the
repository is remote (the meta node's TLS server), so each command is one TLS session there.
Errors carry pgBackRest's own last line, never the configuration.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pigsalt.agent import AgentError, last_line

PGBACKREST = "/usr/bin/pgbackrest"
TYPES = ("full", "diff", "incr")
# pgBackRest's info status codes (src/command/info/info.c): 0 ok, 1 missing stanza path,
# 2 no valid backups, 3 missing stanza data, 4 different cipher, 5 database mismatch,
# 6 backup/expire running, 99 other.
STATUS_OK, STATUS_MISSING_PATH, STATUS_NO_BACKUP, STATUS_MISSING_DATA, STATUS_RUNNING = 0, 1, 2, 3, 6


@dataclass(frozen=True)
class Stanza:
    """Where a member's pgBackRest commands go: its configuration file, the stanza, the dbsu."""

    config: str
    stanza: str
    user: str = "postgres"

    def argv(self, *command: str) -> list[str]:
        base = [PGBACKREST, f"--config={self.config}", f"--stanza={self.stanza}"]
        return ["runuser", "-u", self.user, "--", *base, *command]


def run(stanza: Stanza, command: Sequence[str], timeout: float) -> str:
    """Run one pgBackRest command; its standard output. ``AgentError`` with pgBackRest's last
    line (and exit code) when it fails or outlives ``timeout``."""
    argv = stanza.argv(*command)
    what = f"pgbackrest {command[-1]} ({stanza.stanza})"  # the command word comes last, after its options
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AgentError(f"{what}: no answer after {timeout:.0f} s") from None
    except OSError as err:
        raise AgentError(f"{what}: {err}") from None
    if done.returncode != 0:
        raise AgentError(f"{what} exited {done.returncode}: {last_line(done.stderr or done.stdout)}")
    return done.stdout


def info(stanza: Stanza, timeout: float = 60) -> dict[str, Any]:
    """``pgbackrest info --output=json`` of this stanza: its one entry."""
    text = run(stanza, ["--output=json", "info"], timeout)
    try:
        found = json.loads(text)
    except ValueError as err:
        raise AgentError(f"pgbackrest info ({stanza.stanza}): not JSON: {err}") from None
    entry = next((s for s in found if isinstance(s, dict) and s.get("name") == stanza.stanza), None)
    if entry is None:
        raise AgentError(f"pgbackrest info ({stanza.stanza}): the stanza is not in its answer")
    return entry


def stanza_exists(stanza: Stanza) -> bool:
    """True when the repository holds the stanza's data (``stanza-create`` ran)."""
    status = info(stanza).get("status") or {}
    code = int(status.get("code", 99))
    if code in (STATUS_MISSING_PATH, STATUS_MISSING_DATA):
        return False
    if code in (STATUS_OK, STATUS_NO_BACKUP, STATUS_RUNNING):
        return True
    raise AgentError(f"pgbackrest info ({stanza.stanza}): {status.get('message', code)}")


def create_stanza(stanza: Stanza, timeout: float = 300) -> None:
    """``stanza-create`` (on the primary): idempotent in pgBackRest itself."""
    run(stanza, ["stanza-create"], timeout)


def backups(stanza: Stanza) -> list[dict[str, Any]]:
    return [b for b in info(stanza).get("backup") or [] if isinstance(b, dict)]


def backup(stanza: Stanza, kind: str = "full", timeout: float = 3600) -> dict[str, Any]:
    """Take a backup of ``kind`` (on the primary); the new backup's ``info`` entry."""
    if kind not in TYPES:
        raise AgentError(f"backup type {kind!r}: one of {', '.join(TYPES)}")
    before = {b.get("label") for b in backups(stanza)}
    run(stanza, ["--type=" + kind, "backup"], timeout)
    new = [b for b in backups(stanza) if b.get("label") not in before]
    if not new:
        raise AgentError(f"pgbackrest backup ({stanza.stanza}): it exited 0 but info lists no new backup")
    return new[-1]


def check(stanza: Stanza, timeout: float = 300) -> None:
    """``pgbackrest check``: the archive and the repository work end to end (forces a WAL switch)."""
    run(stanza, ["check"], timeout)
