"""The local CA and each node's certificate, as pillar: where the files live and what each
node's certificate says.

The CA is the first meta node: its key is created there (``ca_method: create``) or put there by
the user (``copy``) and never leaves it. Every node makes its own key and publishes its public
key in Salt's mine (``pki.key``); the CA node issues each node's certificate from what the
inventory says about that node (``pki.sign``, Salt's ``x509_v2`` states with the CA key) and
publishes the certificates in the mine; each node installs its own (``pki``). The mine keys what
it holds by the minion that sent it, which the master authenticated: the CA certifies a public
key for a node's names only when that node's minion published it.

Why not ``x509_v2``'s remote signing: it goes through peer publish, and each peer request holds
a master worker while it publishes the signing job to the CA through the master itself. As many
nodes asking at once as the master has workers (three here, five by default) deadlock the master
(measured: ``pigsty.node`` on three nodes). The mine costs short requests only.
"""

from __future__ import annotations

from typing import Any

from pigsalt.inventory.model import Inventory, Node

PKI_DIR = "/etc/pki/pigsalt"
CA_KEY = f"{PKI_DIR}/ca.key"
CA_CERT = f"{PKI_DIR}/ca.crt"
NODE_KEY = f"{PKI_DIR}/node.key"
NODE_CERT = f"{PKI_DIR}/node.crt"
# A database node's client certificate (CN: its name), for pgBackRest's TLS server.
CLIENT_CERT = f"{PKI_DIR}/client.crt"
CLIENT_SUFFIX = ".client"
CA_DAYS = 7300
# Debian's group for private keys several services read (Postgres' user is in it already).
KEY_GROUP = "ssl-cert"
ISSUED_DIR = f"{PKI_DIR}/issued"
# Mine entries: the CA certificate and the certificates it issued (the CA node's), each node's
# public key (every node's).
CA_MINE = "pigsalt_ca_cert"
ISSUED_MINE = "pigsalt_issued_certs"
PUBKEY_MINE = "pigsalt_node_pubkey"


def ca_node(inv: Inventory) -> Node:
    return inv.meta_nodes[0]


def _days(inv: Inventory) -> int:
    return int(str(inv.vars["cert_validity"]).rstrip("d"))


def subject_alt_names(inv: Inventory, node: Node) -> list[str]:
    """What a node's certificate is valid for: its name, its instance's name, its cluster's DNS
    name and VIP, its address, and localhost (local clients verify too)."""
    names = [node.name]
    ips = [node.ip]
    if node.instance is not None:
        cluster = inv.cluster(node.instance.cluster)
        names += [node.instance.name, cluster.name]
        if cluster.vip is not None and cluster.vip.address is not None:
            ips.append(cluster.vip.address)
    names.append("localhost")
    ips.append("127.0.0.1")
    return [f"DNS:{n}" for n in dict.fromkeys(names)] + [f"IP:{i}" for i in dict.fromkeys(ips)]


def subject(name: str) -> str:
    """A node certificate's whole subject (RFC 4514): the node's name as OU, no CN."""
    return f"OU={_escape(name)},O=pigsalt"


def node_tls(inv: Inventory, node: Node) -> dict[str, Any]:
    """``pigsty:tls`` of a node: the files, the CA's minion and the mine entries; on the CA node
    also the CA and what to issue to every node."""
    days = _days(inv)
    tls: dict[str, Any] = {
        "dir": PKI_DIR,
        "ca_cert": CA_CERT,
        "key": NODE_KEY,
        "cert": NODE_CERT,
        "client_cert": CLIENT_CERT if node.instance is not None else None,
        "client_suffix": CLIENT_SUFFIX,
        "key_group": KEY_GROUP,
        "ca_server": ca_node(inv).name,
        "mine": {"ca": CA_MINE, "issued": ISSUED_MINE, "pubkey": PUBKEY_MINE},
        "days_remaining": min(30, max(1, days // 3)),
    }
    if node.name == ca_node(inv).name:
        tls["ca"] = {
            "method": inv.vars["ca_method"],
            "cn": inv.vars["ca_cn"],
            "key": CA_KEY,
            "days_valid": CA_DAYS,
            "issued_dir": ISSUED_DIR,
            "issue": issue(inv),
        }
    return tls


def _escape(name: str) -> str:
    return "".join(f"\\{ch}" if ch in ',+"\\<>;=#' else ch for ch in name)


def issue(inv: Inventory) -> list[dict[str, Any]]:
    """What the CA certifies for each node: everything the certificate says is fixed here.

    Each node's certificate (``<node>``), and for a database node a second one for the same key
    (``<node>.client``, installed as ``CLIENT_CERT``): a client certificate whose CN is the
    node's name, which pgBackRest's TLS server authorises per stanza (it reads the CN only).
    etcd never sees it."""
    days = _days(inv)
    common = {
        "basicConstraints": "critical, CA:FALSE",
        "keyUsage": "critical, digitalSignature, keyEncipherment",
        # Python 3.13's strict verification (and RFC 5280) want both key identifiers.
        "subjectKeyIdentifier": "hash",
        "authorityKeyIdentifier": "keyid:always",
        "days_valid": days,
    }
    found: list[dict[str, Any]] = []
    for node in inv.nodes:
        found.append(
            {
                "node": node.name,
                "key_of": node.name,
                # No CN: etcd refuses any /v3 gateway request (Patroni's, pigsalt's) from a client
                # certificate with one while RBAC is on, and over gRPC it would take the CN for a
                # user name.
                "subject": subject(node.name),
                "subjectAltName": ", ".join(subject_alt_names(inv, node)),
                "extendedKeyUsage": "serverAuth, clientAuth",
                **common,
            }
        )
        if node.instance is not None:
            found.append(
                {
                    "node": f"{node.name}{CLIENT_SUFFIX}",
                    "key_of": node.name,
                    "subject": f"CN={_escape(node.name)},OU=client,O=pigsalt",
                    "subjectAltName": f"DNS:{node.name}",
                    "extendedKeyUsage": "clientAuth",
                    **common,
                }
            )
    return found
