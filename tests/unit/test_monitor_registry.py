"""Registration follows the running clusters: role labels and a VIP-less cluster's DNS name from
what Patroni says, the inventory's when Patroni does not answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt.inventory.model import open_inventory
from pigsalt.monitor import registry
from pigsalt.pillar import prometheus
from pigsalt.pillar.build import node_pillar
from pigsalt.pillar.compile import dns_records
from tests.certs import make_certs
from tests.serve import serving

# pg-test after a switchover to pg-test-2.
SWITCHED = [
    {"name": "pg-test-1", "role": "replica", "host": "10.10.10.11", "state": "streaming"},
    {"name": "pg-test-2", "role": "leader", "host": "10.10.10.12", "state": "running"},
    {"name": "pg-test-3", "role": "sync_standby", "host": "10.10.10.13", "state": "streaming"},
]


def _without_vip(reg: dict, cluster: str = "pg-test") -> dict:
    clusters = {**reg["clusters"], cluster: {**reg["clusters"][cluster], "dns_follows_leader": True}}
    return {"clusters": clusters}


def test_the_registry_lists_every_cluster_with_its_patroni_urls_and_inventory_roles(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    reg = registry.registry(inv)
    assert set(reg["clusters"]) == {c.name for c in inv.clusters}
    test = reg["clusters"]["pg-test"]
    assert test["patroni"] == ["https://10.10.10.11:8008", "https://10.10.10.12:8008", "https://10.10.10.13:8008"]
    assert test["roles"] == {"pg-test-1": "primary", "pg-test-2": "replica", "pg-test-3": "offline"}
    vip = inv.cluster("pg-test").vip
    assert test["dns_follows_leader"] is not bool(vip and vip.address)


def test_only_meta_nodes_carry_the_registry(sandbox_inventory: Path) -> None:
    meta, _ = node_pillar(sandbox_inventory, "meta")
    node, _ = node_pillar(sandbox_inventory, "node-1")
    assert "pg-test" in meta["pigsty"]["infra"]["registry"]["clusters"]
    assert "registry" not in node["pigsty"]["infra"]


@pytest.mark.parametrize(
    ("patroni", "inventory", "label"),
    [
        ("leader", "replica", "primary"),
        ("standby_leader", "primary", "primary"),
        ("replica", "primary", "replica"),
        ("sync_standby", "replica", "replica"),
        ("quorum_standby", "replica", "replica"),
        ("replica", "offline", "offline"),
        (None, "offline", "offline"),
        (None, "primary", "primary"),
    ],
)
def test_a_members_role_label(patroni: str | None, inventory: str, label: str) -> None:
    assert registry.role_label(patroni, inventory) == label


def test_after_a_switchover_the_role_labels_follow_patroni_on_every_instance_job(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    reg = registry.registry(inv)
    targets = prometheus.targets(inv, 2379, 9101)
    relabelled = registry.relabel(targets, reg, {"pg-test": SWITCHED})
    for job in registry.ROLE_JOBS:
        roles = {i: relabelled[f"{job}/pg-test-{i}.yml"][0]["labels"]["role"] for i in (1, 2, 3)}
        assert roles == {1: "replica", 2: "primary", 3: "offline"}, job  # pg-test-3: pg_role offline
    # Everything else is the inventory's, untouched: pg-meta (Patroni did not answer), the nodes.
    assert relabelled["pgsql/pg-meta-1.yml"] == targets["pgsql/pg-meta-1.yml"]
    assert relabelled["node/node-2.yml"] == targets["node/node-2.yml"]
    assert "role" not in relabelled["node/node-2.yml"][0]["labels"]
    assert {k: [g["targets"] for g in v] for k, v in relabelled.items()} == {
        k: [g["targets"] for g in v] for k, v in targets.items()
    }


def test_an_unlisted_member_keeps_its_inventory_role(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    reg = registry.registry(inv)
    relabelled = registry.relabel(prometheus.targets(inv, 2379, 9101), reg, {"pg-test": SWITCHED[1:]})
    assert relabelled["pgsql/pg-test-1.yml"][0]["labels"]["role"] == "primary"


def test_a_cluster_without_a_vip_is_named_on_its_leader(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    reg = _without_vip(registry.registry(inv))
    records = dns_records(inv)
    followed = {r["name"]: r["ip"] for r in registry.follow(records, reg, {"pg-test": SWITCHED})}
    assert followed["pg-test"] == "10.10.10.12"
    # Instances and nodes keep their own addresses; a cluster Patroni did not answer for keeps
    # the inventory's.
    assert followed["pg-test-1"] == "10.10.10.11" and followed["node-2"] == "10.10.10.12"
    assert followed == {**{r["name"]: r["ip"] for r in records}, "pg-test": "10.10.10.12"}
    # No leader listed (an election under way): the inventory's primary.
    no_leader = [{**m, "role": "replica"} for m in SWITCHED]
    assert {r["name"]: r["ip"] for r in registry.follow(records, reg, {"pg-test": no_leader})} == {
        r["name"]: r["ip"] for r in records
    }


def test_a_cluster_with_a_vip_keeps_its_name_on_the_vip(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    reg = registry.registry(inv)
    reg["clusters"]["pg-test"]["dns_follows_leader"] = False
    records = dns_records(inv)
    assert registry.follow(records, reg, {"pg-test": SWITCHED}) == records


@pytest.fixture(scope="module")
def patroni(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    certs = make_certs(tmp_path_factory.mktemp("pki"))
    body = json.dumps({"members": SWITCHED, "scope": "pg-test"}).encode()
    with serving(lambda method, path: (200, body) if path == "/cluster" else (404, b"{}"), certs) as port:
        yield port, str(certs.ca)


def test_ask_gets_each_cluster_from_the_first_member_that_answers(patroni: tuple[int, str]) -> None:
    port, ca = patroni
    reg = {
        "clusters": {
            # The first member refuses (nothing listens on port 1), the second answers.
            "pg-test": {"patroni": ["https://127.0.0.1:1", f"https://127.0.0.1:{port}"], "roles": {}},
            "pg-gone": {"patroni": ["https://127.0.0.1:1"], "roles": {}},
        }
    }
    assert registry.ask(reg, cafile=ca, timeout=5) == {"pg-test": SWITCHED}


def test_ask_trusts_only_the_given_ca(patroni: tuple[int, str], tmp_path: Path) -> None:
    port, _ = patroni
    other = make_certs(tmp_path / "other")
    reg = {"clusters": {"pg-test": {"patroni": [f"https://127.0.0.1:{port}"], "roles": {}}}}
    assert registry.ask(reg, cafile=str(other.ca), timeout=5) == {}


def test_a_members_own_role_change_is_registered(sandbox_inventory: Path) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    decision = registry.decide(inv, "node-1", "role_change", {"cluster": "pg-test", "instance": "pg-test-1"})
    assert decision.accepted, decision.reason
    assert decision.rows == (("node", "node-1"), ("instance", "pg-test-1"))
    # A minion known by its IP or its instance name is the same node.
    assert registry.decide(inv, "10.10.10.11", "role_change", {"instance": "pg-test-1"}).accepted


HOLDS_3 = "but holds pg-test-3 of pg-test: ignored"
UNKNOWN_9 = "minion node-9 is not in the inventory: not registered"


@pytest.mark.parametrize(
    ("minion", "event", "claimed", "reason"),
    [
        (
            "node-3",
            "role_change",
            {"cluster": "pg-test", "instance": "pg-test-1"},
            f"minion node-3 claims instance pg-test-1 {HOLDS_3}",
        ),
        ("node-3", "role_change", {"cluster": "pg-meta"}, f"minion node-3 claims cluster pg-meta {HOLDS_3}"),
        ("node-9", "start", None, UNKNOWN_9),
        ("node-9", "role_change", {"instance": "pg-test-1"}, UNKNOWN_9),
        ("node-1", "promote", None, "event 'promote' is not one of start, role_change"),
    ],
)
def test_a_forged_or_unknown_event_registers_nothing(
    sandbox_inventory: Path, minion: str, event: str, claimed: dict | None, reason: str
) -> None:
    inv, _ = open_inventory(sandbox_inventory)
    decision = registry.decide(inv, minion, event, claimed)
    assert (decision.accepted, decision.reason, decision.rows) == (False, reason, ())


def test_the_cmdb_rows_are_upserted_with_quotes_doubled() -> None:
    decision = registry.Decision("o'brien", "start", True, "start", rows=(("node", "o'brien"),))
    assert registry.record_sql(decision) == (
        "INSERT INTO pigsty.registration (kind, name, state, by, at) VALUES "
        "('node', 'o''brien', 'registered', 'start', now()) ON CONFLICT (kind, name) DO UPDATE "
        "SET state = excluded.state, by = excluded.by, at = excluded.at;\n"
    )


def test_ask_without_the_ca_certificate_asks_nothing(tmp_path: Path) -> None:
    """A first deployment renders the DNS records before the CA exists: inventory roles."""
    reg = {"clusters": {"pg-test": {"patroni": ["https://127.0.0.1:1"], "roles": {}}}}
    assert registry.ask(reg, cafile=str(tmp_path / "missing.crt")) == {}
