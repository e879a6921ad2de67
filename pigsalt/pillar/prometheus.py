"""Prometheus on the meta nodes (``pigsty:infra:prometheus``): its flags, ``prometheus.yml``, and
the targets it finds through file-based service discovery.

Every meta node runs a Prometheus that scrapes every target of the inventory (Pigsty's layout:
each infra node is a full monitoring replica). Nothing in ``prometheus.yml`` names a target:
each scrape job reads ``<sd_dir>/<job>/*.yml``, one file per target, which registration writes
(``prometheus.targets``: every deployment, and later the reactor) and removes when the target
leaves the inventory. Each target carries Pigsty's identity labels:

- ``cls``: the Postgres cluster; for a node, the cluster of the instance it runs, ``infra`` for
  a meta node without one, ``nodes`` otherwise; ``etcd``'s cluster name for the DCS members;
- ``ins``: the instance name (``pg-test-1``), a node's name for ``node`` and ``prometheus``, the
  member name for ``etcd``;
- ``ip``: the node's address; ``role`` on the Postgres jobs: the instance's role.

Scrapes over TLS verify the local CA: Patroni's REST API (``/metrics``) and etcd, which also
wants a client certificate (the meta node's own, its key copied for the prometheus user).
"""

from __future__ import annotations

from typing import Any

from pigsalt.inventory.model import Inventory, Node
from pigsalt.inventory.params import scrape_timeout
from pigsalt.pillar import tls

PORT = 9090
CONFIG_DIR = "/etc/prometheus"
ALERTMANAGER_CONFIG = f"{CONFIG_DIR}/alertmanager.yml"
ALERTMANAGER_DATA = "/var/lib/prometheus/alertmanager"
ALERTMANAGER_CLUSTER_PORT = 9094
CONFIG_FILE = f"{CONFIG_DIR}/prometheus.yml"
# The meta node's key, copied for the prometheus user (the etcd scrape's client certificate).
CLIENT_KEY = f"{CONFIG_DIR}/etcd-client.key"
SD_DIR = f"{CONFIG_DIR}/targets"
RULES_DIR = f"{CONFIG_DIR}/rules"
CONSOLES_DIR = f"{CONFIG_DIR}/consoles"
LIBRARIES_DIR = f"{CONFIG_DIR}/console_libraries"
# Scrape jobs, in prometheus.yml's order.
JOBS = ("node", "pgsql", "pgbouncer", "haproxy", "patroni", "etcd", "prometheus", "alertmanager")


def node_cluster(inv: Inventory, node: Node) -> str:
    """A node's ``cls`` label: the cluster of the instance it runs, ``infra`` for a meta node
    without one, ``nodes`` otherwise (Pigsty's default node cluster)."""
    if node.instance is not None:
        return node.instance.cluster
    return "infra" if node.meta else "nodes"


def _group(address: str, **labels: str) -> list[dict[str, Any]]:
    return [{"targets": [address], "labels": labels}]


def targets(inv: Inventory, etcd_port: int, haproxy_admin_port: int) -> dict[str, list[dict[str, Any]]]:
    """Every file of the file-based discovery, by path under ``SD_DIR``: ``<job>/<name>.yml``
    holding one target group."""
    files: dict[str, list[dict[str, Any]]] = {}
    for node in inv.nodes:
        port = node.vars["node_exporter_port"]
        files[f"node/{node.name}.yml"] = _group(
            f"{node.ip}:{port}", cls=node_cluster(inv, node), ins=node.name, ip=node.ip
        )
    for cluster in inv.clusters:
        c = cluster.vars
        ports = {"pgsql": c["pg_exporter_port"], "patroni": c["patroni_port"]}
        if c["pgbouncer_enabled"]:
            ports["pgbouncer"] = c["pgbouncer_exporter_port"]
        if c["haproxy_enabled"]:
            ports["haproxy"] = haproxy_admin_port
        for inst in cluster.instances:
            for job, port in ports.items():
                files[f"{job}/{inst.name}.yml"] = _group(
                    f"{inst.ip}:{port}", cls=cluster.name, ins=inst.name, ip=inst.ip, role=inst.role
                )
    servers = inv.vars["dcs_servers"] or {n.name: n.ip for n in inv.meta_nodes}
    for name, ip in sorted(servers.items()):
        files[f"etcd/{name}.yml"] = _group(f"{ip}:{etcd_port}", cls=inv.vars["dcs_name"], ins=name, ip=ip)
    for node in inv.meta_nodes:
        files[f"prometheus/{node.name}.yml"] = _group(f"{node.ip}:{PORT}", cls="infra", ins=node.name, ip=node.ip)
        files[f"alertmanager/{node.name}.yml"] = _group(
            f"{node.ip}:{inv.vars['alertmanager_port']}", cls="infra", ins=node.name, ip=node.ip
        )
    return dict(sorted(files.items()))


def config(inv: Inventory) -> dict[str, Any]:
    """``prometheus.yml``: the global intervals, the rules, and one file-discovered job each."""
    g = inv.vars

    def job(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "job_name": name,
            **extra,
            "file_sd_configs": [{"files": [f"{SD_DIR}/{name}/*.yml"], "refresh_interval": g["prometheus_sd_interval"]}],
        }

    ca = {"ca_file": tls.CA_CERT}
    jobs = {
        "patroni": job("patroni", scheme="https", tls_config=ca),
        "etcd": job("etcd", scheme="https", tls_config={**ca, "cert_file": tls.NODE_CERT, "key_file": CLIENT_KEY}),
    }
    return {
        "global": {
            "scrape_interval": g["prometheus_scrape_interval"],
            "scrape_timeout": scrape_timeout(g["prometheus_scrape_interval"], g["prometheus_scrape_timeout"]),
            "evaluation_interval": g["prometheus_scrape_interval"],
        },
        "rule_files": [f"{RULES_DIR}/*.yml"],
        # Every meta node's Alertmanager (they share their silences and notifications).
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{n.ip}:{g['alertmanager_port']}" for n in inv.meta_nodes]}]}
            ]
        },
        "scrape_configs": [jobs.get(name) or job(name) for name in JOBS],
    }


def prometheus(inv: Inventory, etcd_port: int, haproxy_admin_port: int) -> dict[str, Any]:
    """``pigsty:infra:prometheus`` of a meta node."""
    g = inv.vars
    args = [
        f"--config.file={CONFIG_FILE}",
        f"--storage.tsdb.path={g['prometheus_data']}",
        f"--web.listen-address=:{PORT}",
        f"--web.console.templates={CONSOLES_DIR}",
        f"--web.console.libraries={LIBRARIES_DIR}",
        *g["prometheus_options"].split(),
    ]
    return {
        "port": PORT,
        "data": g["prometheus_data"],
        "args": args,
        "config_dir": CONFIG_DIR,
        "config_file": CONFIG_FILE,
        "client_key": CLIENT_KEY,
        "config": config(inv),
        "rules_dir": RULES_DIR,
        "sd_dir": SD_DIR,
        "targets": targets(inv, etcd_port, haproxy_admin_port),
        "scrape_interval": g["prometheus_scrape_interval"],
    }


def alertmanager_config(inv: Inventory) -> dict[str, Any]:
    """``alertmanager.yml``: alerts grouped by cluster, one receiver with the inventory's webhook
    and e-mail (none: alerts are only kept), a CRIT alert silencing the WARNs of its instance."""
    g = inv.vars
    receiver: dict[str, Any] = {"name": "pigsalt"}
    config: dict[str, Any] = {}
    if g["alertmanager_webhook_url"]:
        receiver["webhook_configs"] = [{"url": g["alertmanager_webhook_url"], "send_resolved": True}]
    if g["alertmanager_email_to"]:
        receiver["email_configs"] = [{"to": g["alertmanager_email_to"], "send_resolved": True}]
        smtp: dict[str, Any] = {
            "smtp_smarthost": g["alertmanager_smtp_smarthost"],
            "smtp_from": g["alertmanager_smtp_from"] or f"alertmanager@{inv.meta_nodes[0].name}",
            "smtp_require_tls": True,
        }
        if g["alertmanager_smtp_username"]:
            smtp["smtp_auth_username"] = g["alertmanager_smtp_username"]
            smtp["smtp_auth_password"] = g["alertmanager_smtp_password"] or ""
        config["global"] = smtp
    return {
        **config,
        "route": {
            "receiver": "pigsalt",
            "group_by": ["cls", "alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="CRIT"'],
                "target_matchers": ['severity="WARN"'],
                "equal": ["cls", "ins"],
            }
        ],
        "receivers": [receiver],
    }


def alertmanager(inv: Inventory, node: Node) -> dict[str, Any]:
    """``pigsty:infra:alertmanager`` of a meta node: with several meta nodes their Alertmanagers
    form one cluster (gossip on :9094 of the node's address), alone it gossips with nobody."""
    port = inv.vars["alertmanager_port"]
    peers = [n.ip for n in inv.meta_nodes if n.ip != node.ip]
    cluster = (
        [f"--cluster.listen-address={node.ip}:{ALERTMANAGER_CLUSTER_PORT}"]
        + [f"--cluster.peer={ip}:{ALERTMANAGER_CLUSTER_PORT}" for ip in peers]
        if peers
        else ["--cluster.listen-address="]
    )
    return {
        "port": port,
        "config_file": ALERTMANAGER_CONFIG,
        "config": alertmanager_config(inv),
        "args": [
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--storage.path={ALERTMANAGER_DATA}",
            f"--web.listen-address=:{port}",
            *cluster,
        ],
    }
