"""The ext_pillar as the master calls it (loaded by Salt's loader through the entry point)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import salt.config
import salt.loader

from pigsalt import restapi
from pigsalt.inventory import model
from pigsalt.pillar import cache
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.build import build
from tests.conftest import FIXED_SECRETS


@pytest.fixture(autouse=True)
def empty_cache():
    """The cache lives as long as the process: each test starts with none, and checks the
    files on every call (the one-second window has its own test)."""
    cache.CACHE.clear()
    recheck, cache.CACHE.recheck_ns = cache.CACHE.recheck_ns, 0
    yield
    cache.CACHE.recheck_ns = recheck
    cache.CACHE.clear()


@pytest.fixture
def ext_pillar(tmp_path: Path):
    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp_path / "cache"), "extension_modules": str(tmp_path / "ext")})
    loaded = salt.loader.pillars(opts, {})
    assert "pigsalt" in loaded, "the salt.loader entry point does not expose pigsalt's ext_pillar"
    return loaded["pigsalt"]


def test_each_minion_gets_its_node_pillar(ext_pillar, sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    data = ext_pillar("node-3", {}, inventory=str(out))
    assert data["pigsty"]["pg"]["instance"] == "pg-test-3"
    assert ext_pillar("10.10.10.10", {}, inventory=str(out))["pigsty"]["node"]["name"] == "meta"


def test_a_minion_outside_the_inventory_gets_nothing(ext_pillar, sandbox_inventory: Path):
    assert ext_pillar("stranger", {}, inventory=str(sandbox_inventory)) == {}


def test_an_invalid_inventory_fails_the_pillar(ext_pillar, sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace("pg_role: replica", "pg_role: primary")
    sandbox_inventory.write_text(text)
    with pytest.raises(RuntimeError, match=r"needs exactly one pg_role: primary"):
        ext_pillar("node-1", {}, inventory=str(sandbox_inventory))


def test_the_inventory_is_parsed_once_for_every_minion(ext_pillar, sandbox_inventory: Path, monkeypatch):
    parsed = []
    monkeypatch.setattr(cache, "open_inventory", lambda path: parsed.append(path) or model.open_inventory(path))
    first = {m: ext_pillar(m, {}, inventory=str(sandbox_inventory)) for m in ("meta", "node-1", "node-2", "node-3")}
    again = {m: ext_pillar(m, {}, inventory=str(sandbox_inventory)) for m in ("node-3", "stranger", "10.10.10.11")}
    assert parsed == [sandbox_inventory]
    assert again["node-3"] == first["node-3"]
    assert again["stranger"] == {}
    assert again["10.10.10.11"] == first["node-1"]
    # The pillar is the one compiled without a cache.
    from pigsalt.pillar.build import node_pillar

    assert first["node-2"] == node_pillar(sandbox_inventory, "node-2")[0]


def edit_in_place(path: Path, old: str, new: str) -> None:
    """Rewrite ``path`` in place with the same size and mtime: only its content and ctime differ."""
    assert len(old) == len(new)
    before = path.stat()
    with open(path, "r+", encoding="utf-8") as handle:
        text = handle.read()
        assert old in text
        handle.seek(0)
        handle.write(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


@pytest.mark.parametrize("racy_ns", [cache.RACY_NS, 0], ids=["just-written", "status-trusted"])
def test_an_edited_cluster_file_of_a_pillar_directory_is_read_again(
    ext_pillar, sandbox_inventory: Path, tmp_path: Path, monkeypatch, racy_ns: int
):
    # With 0, files written just now count as settled: the status pre-check alone decides.
    monkeypatch.setattr(cache, "RACY_NS", racy_ns)
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    assert ext_pillar("node-1", {}, inventory=str(out))["pigsty"]["pg"]["vip"]["address"] == "10.10.10.3"
    edit_in_place(out / "clusters" / "pg-test.yml", "10.10.10.3", "10.10.10.4")
    assert ext_pillar("node-1", {}, inventory=str(out))["pigsty"]["pg"]["vip"]["address"] == "10.10.10.4"
    assert cache.CACHE.loads == 2


def test_a_cluster_file_that_comes_or_goes_is_seen(ext_pillar, sandbox_inventory: Path, tmp_path: Path):
    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    assert ext_pillar("node-1", {}, inventory=str(out))["pigsty"]["pg"]["cluster"] == "pg-test"
    (out / "clusters" / "pg-test.yml").rename(tmp_path / "pg-test.yml")
    assert ext_pillar("node-1", {}, inventory=str(out)) == {}
    (tmp_path / "pg-test.yml").rename(out / "clusters" / "pg-test.yml")
    assert ext_pillar("node-1", {}, inventory=str(out))["pigsty"]["pg"]["cluster"] == "pg-test"


def test_files_touched_but_unchanged_are_not_parsed_again(ext_pillar, sandbox_inventory: Path, monkeypatch):
    monkeypatch.setattr(cache, "RACY_NS", 0)
    ext_pillar("node-1", {}, inventory=str(sandbox_inventory))
    os.utime(sandbox_inventory)
    ext_pillar("node-2", {}, inventory=str(sandbox_inventory))
    assert cache.CACHE.loads == 1


def test_settled_files_are_not_read_again(ext_pillar, sandbox_inventory: Path, monkeypatch):
    monkeypatch.setattr(cache, "RACY_NS", 0)
    digests = []
    real = cache._digest
    monkeypatch.setattr(cache, "_digest", lambda files: digests.append(files) or real(files))
    ext_pillar("node-1", {}, inventory=str(sandbox_inventory))
    read = len(digests)
    ext_pillar("node-2", {}, inventory=str(sandbox_inventory))
    assert len(digests) == read


def test_a_changed_secrets_file_is_read_again(ext_pillar, sandbox_inventory: Path):
    secrets = secret_store.secrets_path(sandbox_inventory)

    def patroni() -> str:
        return ext_pillar("node-1", {}, inventory=str(sandbox_inventory))["pigsty"]["pg"]["patroni"]["password"]

    assert patroni() == FIXED_SECRETS["patroni_password"]
    secret_store.dump({**FIXED_SECRETS, "patroni_password": "rotated"}, secrets)
    assert patroni() == "rotated"
    # A removed store is an error for every minion, never a silent new password.
    secrets.unlink()
    with pytest.raises(RuntimeError, match="the secrets store does not exist; `pigsalt pillar build` creates it"):
        patroni()
    assert not secrets.exists()
    secret_store.dump({**FIXED_SECRETS, "patroni_password": "rotated"}, secrets)
    secrets.chmod(0o644)
    with pytest.raises(RuntimeError, match="secrets file is accessible by others"):
        patroni()
    assert cache.CACHE.loads == 1


def test_an_invalid_inventory_fails_every_minion_until_it_is_fixed(ext_pillar, sandbox_inventory: Path):
    good = sandbox_inventory.read_text()
    sandbox_inventory.write_text(good.replace("pg_role: replica", "pg_role: primary"))
    for minion in ("node-1", "node-2", "stranger"):
        with pytest.raises(RuntimeError, match=r"needs exactly one pg_role: primary"):
            ext_pillar(minion, {}, inventory=str(sandbox_inventory))
    assert cache.CACHE.loads == 1
    sandbox_inventory.write_text(good)
    assert ext_pillar("node-2", {}, inventory=str(sandbox_inventory))["pigsty"]["pg"]["role"] == "replica"


def test_the_cache_keeps_a_few_inventories(sandbox_inventory: Path, tmp_path: Path):
    small = cache.InventoryCache(size=2)
    copies = []
    for i in range(3):
        copy = tmp_path / f"copy{i}.yml"
        copy.write_text(sandbox_inventory.read_text())
        secret_store.dump(FIXED_SECRETS, secret_store.secrets_path(copy))
        copies.append(copy)
        small.node_pillar(copy, "node-1")
    assert len(small._versions) == 2
    small.node_pillar(copies[0], "node-1")
    assert small.loads == 4


def _runners(tmp_path: Path, inventory: Path) -> Any:
    opts = salt.config.master_config(None)
    opts.update(
        {
            "cachedir": str(tmp_path / "cache"),
            "extension_modules": str(tmp_path / "ext"),
            "ext_pillar": [{"pigsalt": {"inventory": str(inventory)}}],
        }
    )
    return salt.loader.runner(opts)


def test_the_runner_lists_each_clusters_members(tmp_path: Path, sandbox_inventory: Path):
    assert _runners(tmp_path, sandbox_inventory)["pigsalt.clusters"]() == {
        "pg-meta": {"primary": "meta", "replicas": []},
        "pg-test": {"primary": "node-1", "replicas": ["node-2", "node-3"]},
    }


def test_the_runner_probes_each_members_restapi_port(tmp_path: Path, sandbox_inventory: Path, monkeypatch):
    seen = []

    def probe(endpoints):
        seen.append(endpoints)
        return dict.fromkeys(endpoints, "down")

    monkeypatch.setattr(restapi, "schemes", probe)
    runners = _runners(tmp_path, sandbox_inventory)
    assert runners["pigsalt.restapi_schemes"]("pg-test") == dict.fromkeys(("node-1", "node-2", "node-3"), "down")
    assert seen == [{"node-1": ("10.10.10.11", 8008), "node-2": ("10.10.10.12", 8008), "node-3": ("10.10.10.13", 8008)}]
    with pytest.raises(RuntimeError, match=r"pigsalt inventory: cluster 'pg-nope' is not in the inventory"):
        runners["pigsalt.restapi_schemes"]("pg-nope")


def test_within_the_recheck_window_the_files_are_not_looked_at(ext_pillar, sandbox_inventory: Path, monkeypatch):
    """A fleet refresh stats the files about once a second, not once per minion; an edit shows
    once the window has passed."""
    cache.CACHE.recheck_ns = 3_600 * 10**9
    inv = str(sandbox_inventory)
    assert ext_pillar("node-1", {}, inventory=inv)["pigsty"]["node"]["name"] == "node-1"
    taken = []
    take = cache.Snapshot.take

    def spy(root: Path, known=None):
        taken.append(root)
        return take(root, known)

    monkeypatch.setattr(cache.Snapshot, "take", spy)
    for name in ("node-1", "node-2", "node-3", "meta"):
        assert ext_pillar(name, {}, inventory=inv)["pigsty"]["node"]["name"] == name
    # Only the secrets file (one stat) is looked at; the inventory's files are not.
    assert sandbox_inventory.absolute() not in taken
    monkeypatch.undo()
    cache.CACHE.recheck_ns = 0
    text = sandbox_inventory.read_text().replace("node_tune: tiny", "node_tune: olap")
    assert text != sandbox_inventory.read_text()
    sandbox_inventory.write_text(text)
    assert ext_pillar("node-1", {}, inventory=inv)["pigsty"]["node"]["tune"] == "olap"


def test_the_cmdb_as_source_serves_what_the_cmdb_holds_and_its_last_dump_when_it_is_down(
    ext_pillar,
    sandbox_inventory: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """source: cmdb compiles the CMDB's dump (faked here: the runner's psql is tested in
    test_cmdb_cli, the real one in the e2e tier); the secrets stay beside the file inventory."""
    from pigsalt.cmdb import source

    out = tmp_path / "pillar"
    build(sandbox_inventory, out)
    held = sandbox_inventory.read_text().replace("pg_rto: 30", "pg_rto: 45")
    assert held != sandbox_inventory.read_text()
    answers: list[object] = [held]

    def dump_text(inventory: Path) -> str:
        assert inventory == out
        answer = answers[-1]
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    monkeypatch.setattr(source, "dump_text", dump_text)
    monkeypatch.setattr(source, "REFRESH", 0.0)  # ask the CMDB on every call
    files = ext_pillar("node-1", {}, inventory=str(out))
    data = ext_pillar("node-1", {}, inventory=str(out), source="cmdb")
    assert files["pigsty"]["pg"]["patroni"]["ttl"] == 30
    assert data["pigsty"]["pg"]["patroni"]["ttl"] == 45
    assert data["pigsty"]["pg"]["system_users"] == files["pigsty"]["pg"]["system_users"]  # the same store
    dumped = tmp_path / "cache" / "pigsalt-cmdb" / "pigsty.yml"
    assert dumped.stat().st_mode & 0o777 == 0o600 and dumped.parent.stat().st_mode & 0o777 == 0o700
    answers.append(source.CmdbError("psql on pg-meta/meta: connection refused"))
    again = ext_pillar("node-1", {}, inventory=str(out), source="cmdb")
    assert again["pigsty"]["pg"]["patroni"]["ttl"] == 45
    assert "the CMDB cannot be read, the pillar uses its last dump" in caplog.text


def test_the_cmdb_as_source_with_no_dump_fails_the_pillar_in_one_line(
    ext_pillar, sandbox_inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pigsalt.cmdb import source

    def down(inventory: Path) -> str:
        raise source.CmdbError("the CMDB is empty: run `pigsalt cmdb load` first")

    monkeypatch.setattr(source, "dump_text", down)
    with pytest.raises(RuntimeError) as err:
        ext_pillar("node-1", {}, inventory=str(sandbox_inventory), source="cmdb")
    assert str(err.value) == (
        f"pigsalt inventory {sandbox_inventory}: the CMDB is the pillar's source and cannot be read: "
        "the CMDB is empty: run `pigsalt cmdb load` first"
    )
    with pytest.raises(RuntimeError, match=r"^pigsalt ext_pillar: source 'git' is not one of files, cmdb$"):
        ext_pillar("node-1", {}, inventory=str(sandbox_inventory), source="git")
