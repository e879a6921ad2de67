"""The CMDB on pg-meta as the master reaches it, and as the pillar's source.

``run`` sends a script to the CMDB with ``psql``: pg-meta's read-write member (libpq's
``target_session_attrs=read-write`` over every member), database ``meta``, as the admin user
(``pg_admin_username``), ``sslmode=verify-full`` against the local CA, the password in the
environment only. Where pg-meta is and how to log in come from the file inventory: the CMDB
cannot say where it is itself.

``Source`` makes the CMDB the pillar's source (the ext_pillar's ``source: cmdb``): it dumps the
CMDB into a private file under the master's cache (``pigsty.yml``, 0600 in a 0700 directory),
at most once per ``refresh`` seconds per master process, and hands that file to the same
compiler as a file inventory. When the CMDB does not answer, the last dump is used and the
failure is logged; with no dump yet, the pillar fails with one line naming the CMDB.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import yaml

from pigsalt import fileio
from pigsalt.errors import PigsaltError

__all__ = ["CLUSTER", "DATABASE", "REFRESH", "CmdbError", "Source", "dump_text", "run"]

log = logging.getLogger(__name__)

CLUSTER = "pg-meta"
DATABASE = "meta"
# Seconds a dump is used before the CMDB is asked again: a fleet's pillar refresh asks once.
REFRESH = 10.0
PSQL_TIMEOUT = 300


class CmdbError(PigsaltError):
    """The CMDB cannot be reached or refused a script."""


def _login(inventory: Path) -> tuple[list[str], dict[str, str]]:
    """psql's arguments and environment for the CMDB, from the file inventory."""
    from pigsalt.inventory.model import open_inventory
    from pigsalt.pillar.build import node_pillar

    inv, _ = open_inventory(inventory)
    cluster = next((c for c in inv.clusters if c.name == CLUSTER), None)
    if cluster is None:
        raise CmdbError(f"the CMDB lives in cluster {CLUSTER}, which the inventory does not have")
    pillar, _ = node_pillar(inventory, inv.node(cluster.primary.ip).name)
    pg = pillar["pigsty"]["pg"]
    admin = pg["system_users"]["admin"]
    conninfo = " ".join(
        [
            f"host={','.join(m['ip'] for m in pg['members'])}",
            f"port={pg['port']}",
            f"dbname={DATABASE}",
            f"user={admin['name']}",
            "target_session_attrs=read-write",
            "sslmode=verify-full",
            f"sslrootcert={pillar['pigsty']['tls']['ca_cert']}",
            "connect_timeout=10",
        ]
    )
    env = {**os.environ, "PGPASSWORD": str(admin["password"])}
    return ["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"], env


def run(inventory: Path, script: str, timeout: float = PSQL_TIMEOUT) -> str:
    """``script`` run on the CMDB in one psql session; its output. Any failure is a
    ``CmdbError`` with one line (psql's last words, never the password)."""
    argv, env = _login(inventory)
    try:
        done = subprocess.run(argv, input=script, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except FileNotFoundError:
        raise CmdbError("psql is not installed on the master (Debian's postgresql-client)") from None
    except subprocess.TimeoutExpired:
        raise CmdbError(f"psql on {CLUSTER}/{DATABASE}: no answer within {timeout:g} s") from None
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise CmdbError(f"psql on {CLUSTER}/{DATABASE}: {last[0][:300]}")
    return done.stdout


def dump_text(inventory: Path) -> str:
    """The inventory the CMDB holds, as YAML text; ``CmdbError`` when the CMDB is empty."""
    from pigsalt.cmdb import rows, sql

    found = json.loads(run(inventory, sql.DUMP_QUERY))
    if found.get("all") is None:
        raise CmdbError("the CMDB is empty: run `pigsalt cmdb load` first")
    raw = rows.to_raw(rows.Rows.from_json(found))
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=False, width=120)


class Source:
    """The CMDB's inventory as a file, refreshed at most every ``refresh`` seconds."""

    def __init__(self, inventory: Path, cache_dir: Path, refresh: float | None = None) -> None:
        self.inventory = inventory
        self.path = cache_dir / "pigsty.yml"
        self.refresh = REFRESH if refresh is None else refresh
        self._fetched = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Path:
        """The file to compile the pillar from: a fresh dump, or the last one when the CMDB
        does not answer (logged); ``CmdbError`` when there is none."""
        with self._lock:
            if time.monotonic() - self._fetched < self.refresh and self.path.exists():
                return self.path
            try:
                text = dump_text(self.inventory)
            except (CmdbError, ValueError) as err:
                if not self.path.exists():
                    raise CmdbError(f"the CMDB is the pillar's source and cannot be read: {err}") from None
                log.warning("pigsalt: the CMDB cannot be read, the pillar uses its last dump %s: %s", self.path, err)
                self._fetched = time.monotonic()
                return self.path
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.path.parent, 0o700)
            fileio.write_atomic(self.path, text, mode=0o600)
            self._fetched = time.monotonic()
            return self.path
