from __future__ import annotations

import pytest

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import derive
from pigsalt.pillar.derive import hba, patroni_timings, services


def test_patroni_timings_respect_patroni_rules_for_every_rto():
    for rto in range(20, 3601):
        t = patroni_timings(rto, 1048576)
        assert t["ttl"] == rto, rto
        assert t["loop_wait"] + 2 * t["retry_timeout"] <= t["ttl"], rto
        assert t["loop_wait"] >= 1 and t["retry_timeout"] >= 3, rto


def test_patroni_timings_default_and_sync_mode():
    assert patroni_timings(30, 1048576) == {
        "ttl": 30,
        "loop_wait": 10,
        "retry_timeout": 10,
        "primary_start_timeout": 10,
        "maximum_lag_on_failover": 1048576,
        "synchronous_mode": False,
        "synchronous_mode_strict": False,
        "failsafe_mode": True,
    }
    # RPO 0 is strict: no write is acknowledged that only the primary holds.
    assert patroni_timings(31, 0)["synchronous_mode"] is True
    assert patroni_timings(31, 0)["synchronous_mode_strict"] is True
    assert patroni_timings(31, 0)["loop_wait"] == 10  # Pigsty's ceil(31/3) = 11 would break 11 + 22 <= 31


def by_name(svcs):
    return {s["service"]: s for s in svcs}


def test_default_services(sandbox_inventory):
    inv, _ = open_inventory(sandbox_inventory)
    svcs = by_name(services(inv.cluster("pg-test")))
    assert [(s["port"], s["dest_port"], s["check"]) for s in svcs.values()] == [
        (5433, 6432, "/primary"),
        (5434, 6432, "/replica"),
        (5436, 5432, "/primary"),
        (5438, 5432, "/replica"),
    ]
    # Every member is a candidate for the primary service; health checks decide which is up.
    assert [m["name"] for m in svcs["primary"]["members"]] == ["pg-test-1", "pg-test-2", "pg-test-3"]
    # The replica service falls back to whichever member answers /primary, whatever pg_role says.
    replica = svcs["replica"]
    assert replica["backup_check"] == "/primary"
    assert [m["name"] for m in replica["backups"]] == ["pg-test-1-backup", "pg-test-2-backup", "pg-test-3-backup"]
    offline = svcs["offline"]
    assert [m["name"] for m in offline["members"]] == ["pg-test-3"]
    assert [m["name"] for m in offline["backups"]] == ["pg-test-2"]


def test_pigsty_v1_service_spelling_is_normalized(example):
    inv, _ = open_inventory(example("pigsty-v1"))
    standby = by_name(services(inv.cluster("pg-test")))["standby"]
    assert (standby["port"], standby["dest_port"], standby["check"], standby["maxconn"]) == (5435, 5432, "/sync", 3000)
    # Pigsty's meaning of selector_backup: the primary is a backup server only, never a member.
    assert [m["name"] for m in standby["members"]] == ["pg-test-2", "pg-test-3"]
    assert [m["name"] for m in standby["backups"]] == ["pg-test-1"]


def test_hba_offline_rules_only_where_the_instance_serves_offline(example):
    inv, _ = open_inventory(example("services"))
    cluster = inv.cluster("pg-src")
    lines = {n.name: hba(n, inv, cluster) for n in inv.nodes if n.instance and n.instance.cluster == "pg-src"}
    etl = "host all etl 10.10.30.0/24 scram-sha-256"
    assert etl not in lines["pg-src-2"]["replica"]
    assert etl in lines["pg-src-3"]["replica"]  # replica with pg_offline_query
    assert etl in lines["pg-src-4"]["replica"]  # pg_role: offline
    assert all(etl not in lines[n]["primary"] for n in lines)
    # A deny rule with a small order comes before the base rules; nothing trusts the network.
    assert lines["pg-src-1"]["primary"][1] == "host all all 10.10.99.0/24 reject"
    assert not [line for ls in lines.values() for line in ls["primary"] + ls["replica"] if line.endswith("trust")]


def test_pgbouncer_hba_expands_roles_to_their_users(example):
    inv, _ = open_inventory(example("services"))
    cluster = inv.cluster("pg-src")
    node = inv.node("pg-src-1")
    assert "hostssl shop app 0.0.0.0/0 scram-sha-256" in hba(node, inv, cluster, pgbouncer=True)["primary"]


def test_hba_localhost_means_the_socket_and_loopback(sandbox_inventory):
    # Pgbouncer logs in to Postgres on the local socket: the business users need a `local` line.
    inv, _ = open_inventory(sandbox_inventory)
    cluster = inv.cluster("pg-test")
    lines = hba(inv.node("node-1"), inv, cluster)["primary"]
    business = [line for line in lines if " +dbrole_readonly " in line]
    assert business[:3] == [
        "local all +dbrole_readonly scram-sha-256",
        "host all +dbrole_readonly 127.0.0.1/32 scram-sha-256",
        "host all +dbrole_readonly ::1/128 scram-sha-256",
    ]
    # One `local` line per (db, user): the admin's is not written twice.
    local = [line for line in lines if line.startswith("local ")]
    assert len(local) == len(set(local))


# --- HAProxy's source ACL from the HBA rules ---------------------------------------------------


def test_hba_sources_are_the_networks_the_rules_admit_collapsed():
    lines = [
        "# local clients",
        "local all all peer",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all 10.0.0.0/8 scram-sha-256",
        "host all dbuser_dba 10.10.10.10/32 scram-sha-256",
        "host all all 192.168.1.0 255.255.255.0 md5",
        "host all intruder 1.2.3.4/32 reject",
        "hostssl all all ::1/128 cert clientcert=verify-full",
    ]
    assert derive.hba_sources(lines) == ["10.0.0.0/8", "127.0.0.1/32", "192.168.1.0/24", "::1/128"]


@pytest.mark.parametrize(
    "line",
    [
        "host all all all scram-sha-256",
        "host all all 0.0.0.0/0 md5",
        "host all all samenet md5",
        "host all all db.example md5",
    ],
)
def test_hba_sources_of_rules_that_admit_any_address_are_none(line):
    assert derive.hba_sources(["host all all 10.0.0.0/8 scram-sha-256", line]) is None
