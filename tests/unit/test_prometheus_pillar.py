"""Prometheus' pillar: one discovered target per exporter with Pigsty's identity labels, a
configuration that names no target, and flags from the inventory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import prometheus
from pigsalt.pillar.build import node_pillar

ETCD, HAPROXY_ADMIN = 2379, 9101


def test_every_exporter_of_every_node_is_one_target_with_its_identity_labels(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    files = prometheus.targets(inv, ETCD, HAPROXY_ADMIN)
    by_job: dict[str, set[str]] = {}
    for path in files:
        job, name = path.split("/")
        by_job.setdefault(job, set()).add(name.removesuffix(".yml"))
    instances = {"pg-meta-1", "pg-test-1", "pg-test-2", "pg-test-3"}
    assert by_job == {
        "node": {"meta", "node-1", "node-2", "node-3"},
        "pgsql": instances,
        "pgbouncer": instances,
        "haproxy": instances,
        "patroni": instances,
        "etcd": {"meta"},
        "prometheus": {"meta"},
        "alertmanager": {"meta"},
    }
    assert files["pgsql/pg-test-3.yml"] == [
        {
            "targets": ["10.10.10.13:9630"],
            "labels": {"cls": "pg-test", "ins": "pg-test-3", "ip": "10.10.10.13", "role": "offline"},
        }
    ]
    assert files["haproxy/pg-test-1.yml"][0]["targets"] == ["10.10.10.11:9101"]
    assert files["patroni/pg-meta-1.yml"][0]["targets"] == ["10.10.10.10:8008"]
    assert files["node/node-1.yml"][0]["labels"] == {"cls": "pg-test", "ins": "node-1", "ip": "10.10.10.11"}
    assert files["node/meta.yml"][0]["labels"]["cls"] == "pg-meta"  # the meta node runs pg-meta
    assert files["etcd/meta.yml"][0] == {
        "targets": ["10.10.10.10:2379"],
        "labels": {"cls": inv.vars["dcs_name"], "ins": "meta", "ip": "10.10.10.10"},
    }


def test_a_cluster_without_pgbouncer_or_haproxy_has_no_target_for_them(sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace(
        "        pg_cluster: pg-test\n",
        "        pg_cluster: pg-test\n        pgbouncer_enabled: false\n        haproxy_enabled: false\n",
        1,
    )
    sandbox_inventory.write_text(text)
    inv, _ = open_inventory(sandbox_inventory)
    files = prometheus.targets(inv, ETCD, HAPROXY_ADMIN)
    assert not [p for p in files if p.startswith(("pgbouncer/pg-test", "haproxy/pg-test"))]
    assert "pgsql/pg-test-1.yml" in files and "pgbouncer/pg-meta-1.yml" in files


def test_the_configuration_names_no_target_and_verifies_the_ca(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    config = prometheus.config(inv)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == list(prometheus.JOBS)
    for name, job in jobs.items():
        assert "static_configs" not in job
        assert job["file_sd_configs"] == [
            {"files": [f"/etc/prometheus/targets/{name}/*.yml"], "refresh_interval": "5s"}
        ]
    assert jobs["patroni"]["scheme"] == "https" and jobs["patroni"]["tls_config"] == {
        "ca_file": "/etc/pki/pigsalt/ca.crt"
    }
    # The key the formula copies for the prometheus user (Debian's unit runs Prometheus with
    # PrivateUsers=: the node key's ssl-cert group does not reach it).
    assert jobs["etcd"]["tls_config"]["key_file"] == prometheus.CLIENT_KEY
    assert config["global"] == {"scrape_interval": "10s", "scrape_timeout": "8s", "evaluation_interval": "10s"}
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["10.10.10.10:9093"]}]}]}


def test_alertmanager_groups_by_cluster_and_sends_where_the_inventory_says(sandbox_inventory: Path):
    inv, _ = open_inventory(sandbox_inventory)
    quiet = prometheus.alertmanager(inv, inv.node("meta"))
    assert quiet["config"]["route"]["group_by"] == ["cls", "alertname"]
    assert quiet["config"]["receivers"] == [{"name": "pigsalt"}]  # kept in Alertmanager, sent nowhere
    assert "--cluster.listen-address=" in quiet["args"]  # one meta node: no gossip port
    text = sandbox_inventory.read_text().replace(
        "  vars:\n",
        "  vars:\n    alertmanager_webhook_url: https://hooks.example.com/pg\n"
        "    alertmanager_email_to: dba@example.com\n    alertmanager_smtp_smarthost: smtp.example.com:587\n"
        "    alertmanager_smtp_username: am\n    alertmanager_smtp_password: S3cret-pass\n",
        1,
    )
    sandbox_inventory.write_text(text)
    inv, _ = open_inventory(sandbox_inventory)
    config = prometheus.alertmanager_config(inv)
    assert config["receivers"] == [
        {
            "name": "pigsalt",
            "webhook_configs": [{"url": "https://hooks.example.com/pg", "send_resolved": True}],
            "email_configs": [{"to": "dba@example.com", "send_resolved": True}],
        }
    ]
    assert config["global"]["smtp_auth_password"] == "S3cret-pass"
    assert config["global"]["smtp_from"] == "alertmanager@meta"


def test_flags_come_from_the_inventory(sandbox_inventory: Path):
    text = sandbox_inventory.read_text().replace(
        "  vars:\n",
        "  vars:\n    prometheus_data: /srv/prom\n"
        "    prometheus_options: --storage.tsdb.retention.time=30d --storage.tsdb.retention.size=20GB\n",
        1,
    )
    sandbox_inventory.write_text(text)
    pillar, _ = node_pillar(sandbox_inventory, "meta")
    prom = pillar["pigsty"]["infra"]["prometheus"]
    assert prom["args"][:2] == ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/srv/prom"]
    assert prom["args"][-2:] == ["--storage.tsdb.retention.time=30d", "--storage.tsdb.retention.size=20GB"]
    node_1, _ = node_pillar(sandbox_inventory, "node-1")
    assert "prometheus" not in node_1["pigsty"]["infra"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed: `make deps` installs prometheus")
def test_promtool_accepts_the_configuration_and_the_target_files(sandbox_inventory: Path, tmp_path: Path):
    inv, _ = open_inventory(sandbox_inventory)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus.config(inv)))
    done = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Each target file as Prometheus' file discovery reads it: a list of groups.
    for path, groups in prometheus.targets(inv, ETCD, HAPROXY_ADMIN).items():
        loaded = yaml.safe_load(yaml.safe_dump(groups))
        assert all(set(g) == {"targets", "labels"} and len(g["targets"]) == 1 for g in loaded), path
