"""What the node baseline and chrony formulas declare, for a VM and for a container.

Rendered through Salt's loader on this machine (nothing is applied); that they converge, and
converge to zero changes on a second run, is checked on the sandbox's real nodes.

Salt's loader keeps the dunders (``__grains__``) of loaded modules in module globals shared by
every minion of a process: the last minion created decides the grains all of them render with.
Each grains variant therefore runs in a child process of its own (this file run as a script),
answering one JSON request per line (``[sls, pillar]``) with the ``state.show_sls`` result.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import salt.client
import salt.config
import salt.utils.templates

from pigsalt.pillar.build import node_pillar
from tests.conftest import ROOT, copy_example
from tests.functional.conftest import local_minion_opts

DROPIN = "/etc/systemd/system/chrony.service.d/pigsalt-container.conf"
PillarOf = Callable[[str, str], dict[str, Any]]


def child_minion(root: Path, virtual: str) -> salt.client.Caller:
    """The masterless minion of a child process, its ``virtual`` grain forced."""
    (root / "pillar").mkdir(parents=True, exist_ok=True)
    conf = root / "minion"
    # Static grains beat core grains, but the loader reads them from the config file only.
    conf.write_text(json.dumps({"grains": {"virtual": virtual, "virtual_subtype": ""}}))
    opts = local_minion_opts(root, f"functional-{virtual}", root / "pillar")
    opts["conf_file"] = str(conf)
    return salt.client.Caller(mopts=opts)


class Minion:
    """A masterless minion in a child process, rendering with a forced ``virtual`` grain."""

    def __init__(self, root: Path, virtual: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.functional.test_node_formulas", str(root), virtual],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def show_sls(self, sls: str, pillar: dict[str, Any]) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps([sls, pillar]) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"the {sls} minion exited with {self.proc.wait()}"
        return json.loads(answer)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minion]:
    minion = Minion(tmp_path_factory.mktemp("vm"), "kvm")
    yield minion
    minion.close()


@pytest.fixture(scope="module")
def nspawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minion]:
    minion = Minion(tmp_path_factory.mktemp("nspawn"), "systemd-nspawn")
    yield minion
    minion.close()


@pytest.fixture
def pillar_of(tmp_path: Path) -> PillarOf:
    """``pillar_of(example, node)`` → the pillar that node of that example inventory receives."""

    def build(example: str, node: str) -> dict[str, Any]:
        return copy.deepcopy(node_pillar(copy_example(example, tmp_path), node)[0])

    return build


def show(minion: Minion, sls: str, pillar: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``state.show_sls`` as ``{state id: {"fun": "file.managed", arg: value, ...}}``."""
    result = minion.show_sls(sls, pillar)
    assert isinstance(result, dict), result
    states = {}
    for state_id, body in result.items():
        ((module, args),) = ((k, v) for k, v in body.items() if not k.startswith("__"))
        fun = next(a for a in args if isinstance(a, str))
        flat = {"fun": f"{module}.{fun}"}
        for arg in args:
            if isinstance(arg, dict):
                flat.update({k: v for k, v in arg.items() if k != "order"})
        states[state_id] = flat
    return states


def test_resolv_conf_replaces_a_symlink_and_lists_the_dns_servers(vm: Minion, pillar_of: PillarOf) -> None:
    states = show(vm, "node.dns", pillar_of("sandbox", "node-1"))
    assert states == {
        "node-dns-resolv-file-managed": {
            "fun": "file.managed",
            "name": "/etc/resolv.conf",
            "follow_symlinks": False,
            "user": "root",
            "group": "root",
            "mode": "0644",
            "contents": "# Managed by pigsalt (salt://node/dns.sls): local edits are overwritten.\n"
            "nameserver 10.10.10.10\n",
        }
    }


def test_timezone_comes_from_the_inventory(vm: Minion, pillar_of: PillarOf) -> None:
    states = show(vm, "node.timezone", pillar_of("pigsty-v1", "pg-test-1"))
    assert states == {"node-timezone-system": {"fun": "timezone.system", "name": "Asia/Hong_Kong"}}


def test_admin_user_with_sudo_validated_by_visudo(vm: Minion, pillar_of: PillarOf) -> None:
    states = show(vm, "node.admin", pillar_of("sandbox", "node-1"))
    assert list(states) == [
        "node-admin-sudo-pkg-installed",
        "node-admin-group-present",
        "node-admin-user-present",
        "node-admin-sudoers-file-managed",
        "repo-policy-rc-file-managed",  # required by the package: no package starts its service
    ]
    assert {"file": "repo-policy-rc-file-managed"} in states["node-admin-sudo-pkg-installed"]["require"]
    assert states["node-admin-user-present"] | {"require": None} == {
        "fun": "user.present",
        "name": "dba",
        "uid": 88,
        "gid": 88,
        "home": "/home/dba",
        "createhome": True,
        "shell": "/bin/bash",
        "require": None,
    }
    sudoers = states["node-admin-sudoers-file-managed"]
    assert sudoers["name"] == "/etc/sudoers.d/dba"
    assert sudoers["mode"] == "0440"
    assert sudoers["check_cmd"] == "/usr/sbin/visudo -cf"
    assert sudoers["contents"].splitlines()[-1] == "dba ALL=(ALL) NOPASSWD: ALL"


def test_admin_ssh_keys_bring_sshd(vm: Minion, pillar_of: PillarOf) -> None:
    pillar = pillar_of("sandbox", "node-1")
    keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 a@x", "ssh-rsa AAAAB3NzaC1yc2EAAAAKey2 b@y"]
    pillar["pigsty"]["node"]["admin"]["pk_list"] = keys
    states = show(vm, "node.admin", pillar)
    assert states["node-admin-sshd-pkg-installed"]["name"] == "openssh-server"
    # repo.policy keeps the package from starting sshd: the formula starts it.
    assert states["node-admin-sshd-service-running"] | {"require": None} == {
        "fun": "pigsalt_service.running",
        "name": "ssh",
        "enable": True,
        "require": None,
    }
    assert states["node-admin-ssh-auth-present"]["user"] == "dba"
    assert states["node-admin-ssh-auth-present"]["names"] == keys


def test_admin_disabled_manages_nothing(vm: Minion, pillar_of: PillarOf) -> None:
    pillar = pillar_of("sandbox", "node-1")
    pillar["pigsty"]["node"]["admin"]["enabled"] = False
    assert list(show(vm, "node.admin", pillar)) == ["node-admin-disabled-test-show_notification"]


def test_sysctl_on_a_vm_one_state_per_key_in_order(vm: Minion, pillar_of: PillarOf) -> None:
    pillar = pillar_of("sandbox", "node-1")
    pillar["pigsty"]["node"]["sysctl"] = {"vm.swappiness": 10, "net.core.somaxconn": 4096}
    states = show(vm, "node.tune", pillar)
    assert states == {
        "node-sysctl-net.core.somaxconn-sysctl-present": {
            "fun": "sysctl.present",
            "name": "net.core.somaxconn",
            "value": 4096,
            "config": "/etc/sysctl.d/99-pigsty.conf",
        },
        "node-sysctl-vm.swappiness-sysctl-present": {
            "fun": "sysctl.present",
            "name": "vm.swappiness",
            "value": 10,
            "config": "/etc/sysctl.d/99-pigsty.conf",
        },
        "node-limits-file-managed": states["node-limits-file-managed"],
    }
    assert list(states)[:2] == sorted(list(states)[:2])


def test_sysctl_skipped_in_a_container_with_a_note(nspawn: Minion, pillar_of: PillarOf) -> None:
    states = show(nspawn, "node.tune", pillar_of("sandbox", "node-1"))
    assert list(states) == ["node-sysctl-skipped-test-show_notification", "node-limits-file-managed"]
    note = states["node-sysctl-skipped-test-show_notification"]
    assert note["fun"] == "test.show_notification"
    assert note["text"] == (
        "sysctl skipped: this node is a container (systemd-nspawn), its kernel parameters "
        "belong to the host (net.core.somaxconn=4096, vm.swappiness=10)"
    )


def test_limits_cover_everyone_and_root(nspawn: Minion, pillar_of: PillarOf) -> None:
    states = show(nspawn, "node.tune", pillar_of("sandbox", "node-1"))
    limits = states["node-limits-file-managed"]
    assert limits["name"] == "/etc/security/limits.d/pigsty.conf"
    assert limits["contents"].splitlines()[1:] == [
        f"{who:<5} {kind}  {item}  65536"
        for item in ("nofile", "nproc")
        for who in ("*", "root")
        for kind in ("soft", "hard")
    ]


def test_exporter_listens_on_its_port_reads_the_textfiles_and_restarts_on_change(
    vm: Minion, pillar_of: PillarOf
) -> None:
    pillar = pillar_of("sandbox", "node-2")
    pillar["pigsty"]["node"]["exporter_port"] = 9200
    states = show(vm, "node.exporter", pillar)
    assert states["node-exporter-pkg-installed"]["name"] == "prometheus-node-exporter"
    assert states["node-exporter-defaults-file-managed"]["contents"].splitlines()[-1] == (
        'ARGS="--web.listen-address=10.10.10.12:9200 --collector.textfile.directory=/var/lib/prometheus/node-exporter"'
    )
    textfiles = states["node-exporter-textfile-dir-file-directory"]
    assert (textfiles["name"], textfiles["mode"]) == ("/var/lib/prometheus/node-exporter", "0755")
    service = states["node-exporter-service-running"]
    assert (service["enable"], service["watch"]) == (
        True,
        [{"pkg": "node-exporter-pkg-installed"}, {"file": "node-exporter-defaults-file-managed"}],
    )


def chrony_conf(caller: Minion, pillar: dict[str, Any]) -> list[str]:
    lines = show(caller, "chrony.config", pillar)["chrony-config-file-managed"]["contents"].splitlines()
    return [line for line in lines if line and not line.startswith("#")]


DEBIAN_DEFAULTS = [
    "keyfile /etc/chrony/chrony.keys",
    "driftfile /var/lib/chrony/chrony.drift",
    "ntsdumpdir /var/lib/chrony",
    "logdir /var/log/chrony",
    "maxupdateskew 100.0",
    "rtcsync",
    "makestep 1 3",
    "leapsectz right/UTC",
]


def test_chrony_meta_serves_every_other_node_without_upstream(vm: Minion, pillar_of: PillarOf) -> None:
    assert chrony_conf(vm, pillar_of("sandbox", "meta")) == [
        "allow 10.10.10.11",
        "allow 10.10.10.12",
        "allow 10.10.10.13",
        "local stratum 10",
        *DEBIAN_DEFAULTS,
    ]


def test_chrony_client_syncs_from_the_meta_node(vm: Minion, pillar_of: PillarOf) -> None:
    assert chrony_conf(vm, pillar_of("sandbox", "node-1")) == ["server 10.10.10.10 iburst", *DEBIAN_DEFAULTS]


def test_chrony_lines_are_written_as_given(vm: Minion, pillar_of: PillarOf) -> None:
    assert chrony_conf(vm, pillar_of("services", "meta-2"))[:2] == [
        "server 10.10.10.10 iburst",
        "pool ntp.example.internal iburst",
    ]
    assert chrony_conf(vm, pillar_of("services", "meta-1"))[0] == "pool ntp.example.internal iburst"
    assert chrony_conf(vm, pillar_of("pigsty-v1", "pg-test-1"))[0] == "pool pool.ntp.org iburst"


def test_chrony_container_dropin_only_in_a_container(vm: Minion, nspawn: Minion, pillar_of: PillarOf) -> None:
    pillar = pillar_of("sandbox", "node-1")
    on_vm = show(vm, "chrony.config", pillar)
    assert on_vm["chrony-container-dropin-file-absent"] == {"fun": "file.absent", "name": DROPIN}
    dropin = show(nspawn, "chrony.config", pillar)["chrony-container-dropin-file-managed"]
    assert dropin["name"] == DROPIN
    assert [line for line in dropin["contents"].splitlines() if line and not line.startswith("#")] == [
        "[Unit]",
        "ConditionCapability=",
        "[Service]",
        "ExecStart=",
        "ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x",
    ]


@pytest.mark.parametrize("caller", ["vm", "nspawn"])
def test_chrony_service_reloads_systemd_and_watches_the_dropin_by_path(
    caller: str, pillar_of: PillarOf, request: pytest.FixtureRequest
) -> None:
    states = show(request.getfixturevalue(caller), "chrony.service", pillar_of("sandbox", "node-1"))
    assert states["chrony-systemd-reload-module-run"]["onchanges"] == [{"file": DROPIN}]
    assert states["chrony-service-running"]["watch"] == [
        {"pkg": "chrony-pkg-installed"},
        {"file": "chrony-config-file-managed"},
        {"file": DROPIN},
    ]


def main() -> None:
    minion = child_minion(Path(sys.argv[1]), sys.argv[2])
    out = sys.stdout
    sys.stdout = sys.stderr  # anything Salt prints must not corrupt the answers
    for line in sys.stdin:
        sls, pillar = json.loads(line)
        out.write(json.dumps(minion.cmd("state.show_sls", sls, pillar=pillar), default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    main()


# --- node.firewall -----------------------------------------------------------------------------


def firewall_rules(pillar: dict[str, Any]) -> str:
    """salt://node/files/firewall.nft.j2 as Salt's Jinja renders it for ``pillar``."""
    done = salt.utils.templates.JINJA(
        str(ROOT / "salt" / "node" / "files" / "firewall.nft.j2"),
        to_str=True,
        pillar=pillar,
        opts=salt.config.minion_config(None),
        saltenv="base",
    )
    assert done["result"], done["data"]
    return str(done["data"])


def test_firewall_zone_checks_the_ruleset_before_installing_it(vm: Minion, pillar_of: PillarOf) -> None:
    states = show(vm, "node.firewall", pillar_of("sandbox", "node-1"))
    rules = states["node-firewall-rules-file-managed"]
    assert (rules["name"], rules["check_cmd"]) == ("/etc/pigsalt/firewall.nft", "/usr/sbin/nft --check --file")
    unit = states["node-firewall-unit-file-managed"]["contents"]
    assert "ExecStop=/usr/sbin/nft delete table inet pigsalt" in unit
    service = states["node-firewall-service-running"]
    assert (service["name"], service["enable"], service["reload"]) == ("pigsalt-firewall", True, True)


def test_firewall_ruleset_names_each_control_port_and_its_sources(pillar_of: PillarOf) -> None:
    text = firewall_rules(pillar_of("sandbox", "node-1"))
    lines = [line.strip() for line in text.splitlines()]
    assert lines[3:5] == ["table inet pigsalt", "delete table inet pigsalt"]
    assert (
        "tcp dport 8008 ip saddr { 10.10.10.10/32, 10.10.10.11/32, 10.10.10.12/32, 10.10.10.13/32 } "
        'accept comment "Patroni REST API"'
    ) in lines
    assert 'tcp dport 9630 reject with tcp reset comment "Postgres exporter"' in lines
    # The control ports come before the zone's intranet rule, which would open them.
    assert lines.index('tcp dport 9630 reject with tcp reset comment "Postgres exporter"') < lines.index(
        "ip saddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } accept"
    )
    assert lines[-3:] == ["reject with icmpx type admin-prohibited", "}", "}"]


@pytest.mark.parametrize(("mode", "state"), [("off", "node-firewall-table-absent"), ("none", "node-firewall-test-nop")])
def test_firewall_off_removes_the_table_and_none_leaves_it(
    vm: Minion, pillar_of: PillarOf, mode: str, state: str
) -> None:
    pillar = pillar_of("sandbox", "node-1")
    pillar["pigsty"]["node"]["firewall"]["mode"] = mode
    states = show(vm, "node.firewall", pillar)
    assert state in states
    assert "node-firewall-rules-file-managed" not in states
