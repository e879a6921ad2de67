"""``pigsalt cmdb``: the runner's psql call (pg-meta's read-write member over verified TLS, the
password in the environment only) and the CLI over a fake master."""

from __future__ import annotations

import importlib
import json
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pigsalt import orch
from pigsalt.cli import main
from pigsalt.inventory.load import load
from tests.conftest import FIXED_SECRETS, copy_example

runner_module = importlib.import_module("pigsalt.saltext.runners.pigsalt_runner")


@pytest.fixture
def master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The runner module on a 'master' whose ext_pillar reads the sandbox example; psql faked:
    the calls it got."""
    inventory = copy_example("sandbox", tmp_path)
    monkeypatch.setattr(
        runner_module, "__opts__", {"ext_pillar": [{"pigsalt": {"inventory": str(inventory)}}]}, raising=False
    )
    calls: list[dict[str, Any]] = []

    def fake_run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"argv": list(argv), **kwargs})
        return subprocess.CompletedProcess(argv, 0, stdout=calls[-1].get("answer", ""), stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    return calls


def test_load_sends_one_transaction_to_pg_meta_as_admin_over_verified_tls(master: list[dict[str, Any]]):
    assert runner_module.cmdb_load()["groups"] == 3
    (call,) = master
    conninfo = call["argv"][1]
    assert call["argv"][0] == "psql" and "ON_ERROR_STOP=1" in call["argv"]
    for part in ("host=10.10.10.10", "dbname=meta", "user=dbuser_dba", "target_session_attrs=read-write",
                 "sslmode=verify-full", "sslrootcert=/etc/pki/pigsalt/ca.crt"):  # fmt: skip
        assert part in conninfo.split(), part
    assert call["env"]["PGPASSWORD"] == FIXED_SECRETS["pg_admin_password"]
    assert FIXED_SECRETS["pg_admin_password"] not in " ".join(call["argv"])
    assert call["input"].startswith("BEGIN;\n") and call["input"].endswith("COMMIT;\n")


def test_psql_failing_is_one_line_naming_the_cmdb(monkeypatch: pytest.MonkeyPatch, master: list[dict[str, Any]]):
    failed = subprocess.CompletedProcess([], 2, stdout="", stderr='psql: error: database "meta" does not exist\n')
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(RuntimeError, match=r'^psql on pg-meta/meta: psql: error: database "meta" does not exist$'):
        runner_module.cmdb_load()


def test_dump_rebuilds_the_inventory_from_the_rows(
    monkeypatch: pytest.MonkeyPatch, master: list[dict[str, Any]], tmp_path: Path
):
    from pigsalt.cmdb import rows

    raw, _ = load(tmp_path / "sandbox.yml")  # the master's inventory
    answer = json.dumps(rows.from_raw(raw).as_json())
    monkeypatch.setattr(subprocess, "run", lambda argv, **k: subprocess.CompletedProcess(argv, 0, answer, ""))
    assert yaml.safe_load(runner_module.cmdb_dump()["inventory"]) == raw
    empty = json.dumps({"all": None, "groups": [], "hosts": [], "variables": []})
    monkeypatch.setattr(subprocess, "run", lambda argv, **k: subprocess.CompletedProcess(argv, 0, empty, ""))
    with pytest.raises(RuntimeError, match="the CMDB is empty: run `pigsalt cmdb load` first"):
        runner_module.cmdb_dump()


def _master_answering(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
        calls.append(list(argv))
        return 0, json.dumps(answers[argv[2]]), ""

    monkeypatch.setattr(orch, "local_runner", run)
    return calls


def test_the_cli_loads_and_writes_a_dump_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    calls = _master_answering(
        monkeypatch,
        {
            "pigsalt.cmdb_load": {"loaded": "/srv/pigsty.yml", "groups": 3, "hosts": 5, "variables": 40},
            "pigsalt.cmdb_dump": {"inventory": "all:\n  vars: {}\n"},
        },
    )
    loaded = CliRunner().invoke(main, ["cmdb", "load"])
    assert loaded.exit_code == 0 and loaded.stdout == "loaded /srv/pigsty.yml: 3 groups, 5 hosts, 40 variables\n"
    out = tmp_path / "cmdb.yml"
    dumped = CliRunner().invoke(main, ["cmdb", "dump", "-o", str(out)])
    assert dumped.exit_code == 0, dumped.output
    assert out.read_text() == "all:\n  vars: {}\n" and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert calls == [["salt-run", "--out=json", "pigsalt.cmdb_load"], ["salt-run", "--out=json", "pigsalt.cmdb_dump"]]
