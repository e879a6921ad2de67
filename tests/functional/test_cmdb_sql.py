"""The CMDB's SQL on a real, throwaway PostgreSQL (Debian's ``postgresql``, installed by ``make
deps``): every example inventory loads in one transaction, dumps back to the same inventory, a
second load replaces the first, and the derived tables hold no password."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.cmdb import rows, sql
from pigsalt.inventory.load import load
from pigsalt.inventory.model import open_inventory
from tests.conftest import EXAMPLES, copy_example

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
pytestmark = pytest.mark.skipif(not INITDB, reason="no PostgreSQL server here (make deps installs Debian's postgresql)")


def _as_postgres(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def psql() -> Iterator[list[str]]:
    """A PostgreSQL on a Unix socket only, in a temp directory the postgres user can reach
    (pytest's own are root's, 0700): the psql command line for it. Stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="pigsalt-cmdb-"))
    shutil.chown(root, "postgres", "postgres")
    data, bindir = root / "data", Path(INITDB[-1]).parent
    done = _as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "peer", "-E", "UTF8", "--locale=C.UTF-8")
    assert done.returncode == 0, done.stderr
    options = f"-k {root} -c listen_addresses='' -c fsync=off"
    done = _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start")
    assert done.returncode == 0, done.stderr + (root / "log").read_text()
    try:
        yield [str(bindir / "psql"), "-h", str(root), "-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    finally:
        _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _run(psql: list[str], script: str) -> str:
    done = _as_postgres(*psql, "-At", stdin=script)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.yml")))
def test_an_inventory_loads_and_dumps_back_unchanged(psql: list[str], name: str, tmp_path: Path):
    path = copy_example(name, tmp_path)
    raw, _ = load(path)
    inv, _ = open_inventory(path)
    _run(psql, sql.load_script(rows.from_raw(raw), inv, str(path)))
    dumped = json.loads(_run(psql, sql.DUMP_QUERY))
    assert rows.to_raw(rows.Rows.from_json(dumped)) == raw
    counts = _run(psql, "SELECT (SELECT count(*) FROM pigsty.instance), (SELECT count(*) FROM pigsty.node);")
    assert counts.strip() == f"{sum(len(c.instances) for c in inv.clusters)}|{len(inv.nodes)}"
    leaked = _run(psql, "SELECT count(*) FROM pigsty.pg_user WHERE spec ? 'password';")
    assert leaked.strip() == "0"


def test_a_failed_load_changes_nothing(psql: list[str], tmp_path: Path):
    path = copy_example("sandbox", tmp_path)
    raw, _ = load(path)
    inv, _ = open_inventory(path)
    _run(psql, sql.load_script(rows.from_raw(raw), inv, "first"))
    broken = sql.load_script(rows.from_raw(raw), inv, "second").replace("COMMIT;", "SELECT 1/0;\nCOMMIT;")
    assert _as_postgres(*psql, stdin=broken).returncode != 0
    assert _run(psql, "SELECT source FROM pigsty.inventory;").strip() == "first"
    access = _run(psql, "SELECT has_schema_privilege('public', 'pigsty', 'USAGE');")
    assert access.strip() == "f"
