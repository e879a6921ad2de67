"""Every reactor SLS compiles, through Salt's own Reactor, into the runner call it is meant to be,
for the events the master sends and for events a minion forged."""

from __future__ import annotations

from pathlib import Path

import pytest
import salt.config
import salt.utils.reactor

from tests.conftest import ROOT

REACTORS = sorted((ROOT / "salt" / "reactor").glob("*.sls"))


@pytest.fixture(scope="module")
def reactor(tmp_path_factory: pytest.TempPathFactory) -> salt.utils.reactor.Reactor:
    root = tmp_path_factory.mktemp("salt-master")
    opts = salt.config.master_config(None)
    opts.update(
        root_dir=str(root),
        cachedir=str(root / "cache"),
        pki_dir=str(root / "pki"),
        sock_dir=str(root / "sock"),
        file_roots={"base": [str(ROOT / "salt")]},
    )
    return salt.utils.reactor.Reactor(opts)


def _register_args(reactor, path: Path, tag: str, data: dict) -> dict:
    chunks = reactor.reactions(tag, data, [str(path)])
    assert len(chunks) == 1, f"{path.name} for {data!r}: {chunks!r}"
    (chunk,) = chunks
    assert (chunk["state"], chunk["fun"]) == ("runner", "pigsalt.register")
    return {k: v for arg in chunk["args"] for k, v in arg.items()}


def test_every_reactor_names_its_tag():
    assert {p.name for p in REACTORS} == {"minion_start.sls", "role_change.sls"}
    for path in REACTORS:
        assert path.read_text().startswith("# reactor-tag: "), path.name


def test_a_minion_start_registers_the_minion_salt_authenticated(reactor):
    args = _register_args(
        reactor,
        ROOT / "salt/reactor/minion_start.sls",
        "salt/minion/pg-test-1/start",
        {"id": "pg-test-1", "cmd": "_minion_event", "_stamp": "2026-12-03T00:00:00"},
    )
    assert args == {"minion": "pg-test-1", "event": "start"}


def test_a_role_change_passes_the_sender_and_its_claim_for_the_runner_to_check(reactor):
    args = _register_args(
        reactor,
        ROOT / "salt/reactor/role_change.sls",
        "pigsty/pg/role_change",
        {"id": "pg-test-1", "data": {"cluster": "pg-test", "instance": "pg-test-1"}},
    )
    assert args == {"minion": "pg-test-1", "event": "role_change", "cluster": "pg-test", "instance": "pg-test-1"}


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"id": "pg-test-3", "data": "pg-test-1"},
        {"id": "pg-test-3", "data": {"cluster": ["pg-test"], "instance": {"x": 1}}},
        {"id": 'x"\nfoo: bar', "data": {"cluster": "pg-test\n- event: start", "instance": "'"}},
    ],
    ids=["no-data", "data-not-a-mapping", "claims-not-strings", "yaml-injection"],
)
def test_a_malformed_or_forged_role_change_still_compiles_to_one_call_with_its_fields_as_data(reactor, data):
    """Whatever a minion puts in its event reaches the runner as values (which refuses them), never
    as SLS structure: no extra state, no replaced argument."""
    args = _register_args(reactor, ROOT / "salt/reactor/role_change.sls", "pigsty/pg/role_change", data)
    assert set(args) == {"minion", "event", "cluster", "instance"}
    assert args["event"] == "role_change"
    assert args["minion"] == str(data.get("id", ""))
    claimed = data.get("data") if isinstance(data.get("data"), dict) else {}
    assert (args["cluster"], args["instance"]) == (claimed.get("cluster"), claimed.get("instance"))
