"""The node firewall's pillar: each control port open to exactly the nodes that need it."""

from __future__ import annotations

from pathlib import Path

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import firewall

HAPROXY_ADMIN = 9101


def _rules(fw: dict) -> dict[str, tuple[int, list[str]]]:
    return {r["name"]: (r["port"], r["sources"]) for r in fw["rules"]}


def test_a_database_node_opens_exporters_to_meta_and_patroni_to_its_cluster(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    fw = firewall.node_firewall(inv, inv.node("node-2"), HAPROXY_ADMIN)
    assert fw["mode"] == "zone" and fw["table"] == "pigsalt"
    assert _rules(fw) == {
        "node exporter": (9100, ["10.10.10.10/32"]),
        "Postgres exporter": (9630, ["10.10.10.10/32"]),
        "Pgbouncer exporter": (9631, ["10.10.10.10/32"]),
        "HAProxy admin page and metrics": (9101, ["10.10.10.10/32"]),
        "Patroni REST API": (8008, ["10.10.10.10/32", "10.10.10.11/32", "10.10.10.12/32", "10.10.10.13/32"]),
    }
    assert fw["intranet"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert fw["public_ports"] == [22, 80, 443]


def test_the_dcs_member_opens_etcd_clients_to_every_node_and_peers_to_members(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    rules = _rules(firewall.node_firewall(inv, inv.node("meta"), HAPROXY_ADMIN))
    everyone = ["10.10.10.10/32", "10.10.10.11/32", "10.10.10.12/32", "10.10.10.13/32"]
    assert rules["etcd clients"] == (2379, everyone)
    assert rules["etcd peers"] == (2380, ["10.10.10.10/32"])
    # pg-meta's one member: its Patroni is reached by itself (and meta) only.
    assert rules["Patroni REST API"] == (8008, ["10.10.10.10/32"])
    assert "etcd clients" not in _rules(firewall.node_firewall(inv, inv.node("node-1"), HAPROXY_ADMIN))


def test_trusted_networks_reach_every_control_port_and_modes_take_pigstys_spellings(sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace(
        "  vars:\n", "  vars:\n    node_firewall_trusted: [10.10.10.1/32]\n    node_firewall_mode: rules\n", 1
    )
    sandbox_inventory.write_text(text)
    inv, _ = open_inventory(sandbox_inventory)
    fw = firewall.node_firewall(inv, inv.node("node-1"), HAPROXY_ADMIN)
    assert fw["mode"] == "zone"
    assert all("10.10.10.1/32" in r["sources"] for r in fw["rules"])
    sandbox_inventory.write_text(text.replace("node_firewall_mode: rules", "node_firewall_mode: disabled"))
    inv, _ = open_inventory(sandbox_inventory)
    assert firewall.node_firewall(inv, inv.node("node-1"), HAPROXY_ADMIN)["mode"] == "off"
