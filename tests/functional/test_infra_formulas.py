"""The infrastructure formulas (repo, nginx, dns, etcd) render what each kind of node needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pigsalt.pillar.build import node_pillar


def show(salt_caller, sls: str, inventory: Path, node: str) -> dict:
    result = salt_caller.cmd("state.show_sls", sls, pillar=node_pillar(inventory, node)[0])
    assert isinstance(result, dict), result
    return result


def arg(state: dict, module: str, key: str):
    """The value of ``key`` among a rendered state's arguments."""
    return next(item[key] for item in state[module] if isinstance(item, dict) and key in item)


def test_meta_reads_its_local_repository_and_installs_the_key(salt_caller, sandbox_inventory):
    result = show(salt_caller, "repo", sandbox_inventory, "meta")
    sources = arg(result["repo-sources-file-managed"], "file", "contents")
    assert "URIs: file:/var/lib/pigsalt/repo/apt/trixie/\n" in sources
    assert "Signed-By: /etc/apt/keyrings/pigsalt-archive-keyring.gpg\n" in sources
    keyring = result["repo-keyring-file-managed"]["file"]
    assert {"source": "/var/lib/pigsalt/repo/apt/pigsalt-archive-keyring.gpg"} in keyring


def test_other_nodes_use_the_repository_through_nginx(salt_caller, sandbox_inventory):
    result = show(salt_caller, "repo", sandbox_inventory, "node-2")
    assert "URIs: http://repo.pigsty/apt/trixie/\n" in arg(result["repo-sources-file-managed"], "file", "contents")
    assert "repo-keyring-file-managed" not in result
    hosts = result["repo-etc-hosts-10.10.10.10-host-present"]["host"]
    assert {"names": ["repo.pigsty", "yum.pigsty", "pigsty"]} in hosts
    assert arg(result["repo-sources-dir-file-directory"], "file", "clean") is True


def test_a_debian_12_node_reads_the_bookworm_suite(salt_caller, sandbox_inventory):
    text = sandbox_inventory.read_text().replace("node_os: debian13", "node_os: debian12")
    sandbox_inventory.write_text(text)
    result = show(salt_caller, "repo", sandbox_inventory, "node-2")
    assert "URIs: http://repo.pigsty/apt/bookworm/\n" in arg(result["repo-sources-file-managed"], "file", "contents")


def test_no_package_may_start_its_service_unless_asked(salt_caller, sandbox_inventory, tmp_path):
    """repo.policy's policy-rc.d: 101 (refused) for every action, 0 when the user says so; every
    package a formula installs requires it."""
    state = show(salt_caller, "repo", sandbox_inventory, "node-2")["repo-policy-rc-file-managed"]
    assert arg(state, "file", "name") == "/usr/sbin/policy-rc.d"
    assert arg(state, "file", "mode") == "0755"
    script = tmp_path / "policy-rc.d"
    script.write_text(arg(state, "file", "contents"))
    env = {"PATH": "/usr/bin:/bin"}
    for action in (["nginx", "start"], ["prometheus-postgres-exporter.service", "restart"]):
        assert subprocess.run(["sh", str(script), *action], env=env, check=False).returncode == 101
    allow = {**env, "PIGSALT_PACKAGE_SERVICES": "allow"}
    allowed = subprocess.run(["sh", str(script), "nginx", "start"], env=allow, check=False)
    assert allowed.returncode == 0
    for sls, node in (("nginx", "meta"), ("etcd", "meta"), ("pgbouncer", "node-1"), ("exporters", "node-1")):
        rendered = show(salt_caller, sls, sandbox_inventory, node)
        installs = [state for name, state in rendered.items() if name.endswith("-pkg-installed")]
        assert installs, sls
        for pkg in installs:
            assert {"file": "repo-policy-rc-file-managed"} in arg(pkg, "pkg", "require"), sls


def test_dns_refuses_to_forward_without_upstreams(salt_caller, sandbox_inventory):
    conf = arg(show(salt_caller, "dns", sandbox_inventory, "meta")["dns-conf-file-managed"], "file", "contents")
    assert "listen-address=10.10.10.10,127.0.0.1\n" in conf
    assert "no-resolv\n" in conf and "server=" not in conf
    assert not [line for line in conf.splitlines() if line.startswith("dhcp-")]


def test_dns_forwards_to_the_given_upstreams(salt_caller, example):
    result = show(salt_caller, "dns", example("services"), "meta-1")
    assert "server=10.0.0.53\n" in arg(result["dns-conf-file-managed"], "file", "contents")
    records = arg(result["dns-records-file-managed"], "file", "contents")
    assert "\n10.10.10.10 repo.pigsty\n" in records


def test_etcd_members_know_the_whole_initial_cluster(salt_caller, example):
    inventory = example("services")
    env = arg(show(salt_caller, "etcd", inventory, "meta-2")["etcd-default-file-managed"], "file", "contents")
    assert "ETCD_NAME=meta-2\n" in env
    assert (
        "ETCD_INITIAL_CLUSTER=meta-1=https://10.10.10.10:2380,meta-2=https://10.10.10.20:2380,meta-3=https://10.10.10.21:2380\n"
        in env
    )


def test_infra_formulas_do_nothing_on_database_nodes(salt_caller, sandbox_inventory):
    assert set(show(salt_caller, "etcd", sandbox_inventory, "node-1")) == {
        "etcd-install-test-nop",
        "etcd-config-test-nop",
        "etcd-service-test-nop",
        "etcd-health-test-nop",
        "etcd-auth-test-nop",
    }
    assert "nginx-pigsty-conf-file-managed" not in show(salt_caller, "nginx", sandbox_inventory, "node-1")
    assert "dns-conf-file-managed" not in show(salt_caller, "dns", sandbox_inventory, "node-1")


def test_the_ca_node_alone_holds_the_ca_and_issues_certificates(salt_caller, sandbox_inventory):
    ca = show(salt_caller, "pki.ca", sandbox_inventory, "meta")
    assert arg(ca["pki-ca-key-managed"], "pigsalt_pki", "name") == "/etc/pki/pigsalt/ca.key"
    assert arg(ca["pki-ca-key-managed"], "pigsalt_pki", "mode") == "0600"
    assert arg(ca["pki-ca-certificate-managed"], "pigsalt_pki", "basicConstraints") == "critical, CA:TRUE"
    # Elsewhere pki.ca and pki.sign do nothing; every node makes its own key.
    assert set(show(salt_caller, "pki.ca", sandbox_inventory, "node-1")) == {"pki-ca-test-nop"}
    assert set(show(salt_caller, "pki.sign", sandbox_inventory, "node-1")) == {"pki-sign-test-nop"}
    key = show(salt_caller, "pki.key", sandbox_inventory, "node-1")["pki-node-key-managed"]
    assert (arg(key, "pigsalt_pki", "mode"), arg(key, "pigsalt_pki", "group")) == ("0640", "ssl-cert")


def test_the_exporters_url_keeps_any_monitor_password(salt_caller, sandbox_inventory):
    """A monitor password with URL separators ('/', ':', '@', '%', a quote) reaches pg_exporter's
    DATA_SOURCE_NAME intact: parsed back, the URL gives the same password."""
    import re
    from urllib.parse import unquote, urlsplit

    password = "Mon/it:or@p%a'ss"
    text = sandbox_inventory.read_text()
    sandbox_inventory.write_text(
        text.replace("all:\n  vars:\n", f'all:\n  vars:\n    pg_monitor_password: "{password}"\n', 1)
    )
    result = show(salt_caller, "exporters.config", sandbox_inventory, "node-1")
    contents = arg(result["exporters-pg-defaults-file-managed"], "file", "contents")
    url = re.search(r"DATA_SOURCE_NAME='([^']*)'", contents).group(1)
    parts = urlsplit(url)
    assert (unquote(parts.password), parts.hostname, parts.path) == (password, "127.0.0.1", "/postgres")
