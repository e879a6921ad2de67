"""The local CA's pillar: each node's certificate names, and policies only that node may use."""

from __future__ import annotations

from pathlib import Path

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import tls


def test_each_node_is_named_as_its_clients_reach_it(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    node = inv.node("node-1")
    assert tls.subject_alt_names(inv, node) == [
        "DNS:node-1",
        "DNS:pg-test-1",
        "DNS:pg-test",
        "DNS:localhost",
        "IP:10.10.10.11",
        "IP:10.10.10.3",
        "IP:127.0.0.1",
    ]


def test_the_ca_issues_one_certificate_per_node_saying_only_what_the_inventory_says(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    issue = {cert["node"]: cert for cert in tls.issue(inv)}
    nodes = ["meta", "node-1", "node-2", "node-3"]
    # Each node's certificate, and a client certificate for the same key of each database node.
    assert sorted(issue) == sorted([*nodes, *(f"{n}.client" for n in nodes)])
    assert all(cert["key_of"] == cert["node"].removesuffix(".client") for cert in issue.values())
    cert = issue["node-2"]
    # The whole subject, without a CN: etcd would take a CN for a user name.
    assert cert["subject"] == "OU=node-2,O=pigsalt"
    assert cert["basicConstraints"] == "critical, CA:FALSE"
    # pgBackRest's TLS server authorises a client by its certificate's CN, for one stanza.
    client = issue["node-2.client"]
    assert client["subject"] == "CN=node-2,OU=client,O=pigsalt" and client["extendedKeyUsage"] == "clientAuth"
    assert tls.node_tls(inv, inv.node("node-2"))["client_cert"] == tls.CLIENT_CERT
    ca = tls.node_tls(inv, inv.node("meta"))["ca"]
    assert ca["method"] == "create" and ca["issue"] == tls.issue(inv)
    assert "ca" not in tls.node_tls(inv, inv.node("node-2"))


def test_a_short_validity_renews_at_a_third(sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace("  vars:\n", "  vars:\n    cert_validity: 30d\n", 1)
    sandbox_inventory.write_text(text)
    inv, _ = open_inventory(sandbox_inventory)
    assert tls.node_tls(inv, inv.node("node-1"))["days_remaining"] == 10
    assert all(cert["days_valid"] == 30 for cert in tls.issue(inv))


def test_subject_escapes_rfc4514_specials():
    assert tls.subject("a,b") == "OU=a\\,b,O=pigsalt"
