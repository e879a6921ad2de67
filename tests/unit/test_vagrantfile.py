"""The Vagrantfile cannot boot here; Ruby checks its syntax and runs it against a stand-in Vagrant.

The stand-in records what the Vagrantfile declares (machines, networks, providers, provisioners,
triggers), so the test sees the four nodes with their addresses, and the shell scripts the
provisioners would run are checked with ``bash -n``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

VAGRANTFILE = ROOT / "Vagrantfile"
EXPECTED = {"meta": "10.10.10.10", "node-1": "10.10.10.11", "node-2": "10.10.10.12", "node-3": "10.10.10.13"}

pytestmark = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed (make deps)")

# A recorder standing in for Vagrant's configuration objects: attribute writes and calls are
# recorded; blocks taking one argument (define, provider, trigger) are run with a new recorder.
STAND_IN = r"""
require "json"

class Recorder
  attr_reader :calls
  def initialize; @calls = []; end
  def method_missing(name, *args, **kw, &block)
    if name.to_s.end_with?("=")
      @calls << { "set" => name.to_s.chomp("="), "value" => args.first }
      return args.first
    end
    child = Recorder.new
    @calls << { "call" => name.to_s, "args" => args, "kw" => kw, "child" => child,
                "block_arity" => block ? block.arity : nil }
    block.call(child) if block && block.arity == 1
    child
  end
  def respond_to_missing?(*) = true
  def to_json(*a) = @calls.to_json(*a)
end

module Vagrant
  CONFIG = Recorder.new
  def self.configure(version)
    raise "configuration version #{version}" unless version == "2"
    yield CONFIG
  end
end

ARGV.clear
load ENV.fetch("VAGRANTFILE")
puts JSON.generate(Vagrant::CONFIG)
"""


def calls(recorded: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [c for c in recorded if c.get("call") == name]


def settings(recorded: list[dict[str, Any]]) -> dict[str, Any]:
    return {c["set"]: c["value"] for c in recorded if "set" in c}


@pytest.fixture(scope="module")
def declared() -> list[dict[str, Any]]:
    env = {**os.environ, "VAGRANTFILE": str(VAGRANTFILE)}
    env.pop("PIGSALT_REPO_TARBALL", None)
    proc = subprocess.run(["ruby", "-e", STAND_IN], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def machines(declared: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    vm = calls(declared, "vm")
    defines = [c for v in vm for c in calls(v["child"], "define")]
    return {c["args"][0]: c["child"] for c in defines}


def test_syntax() -> None:
    proc = subprocess.run(["ruby", "-c", str(VAGRANTFILE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Syntax OK"


def test_four_debian_nodes_on_the_sandbox_addresses(declared: list[dict[str, Any]]) -> None:
    vm_settings = {k: v for c in calls(declared, "vm") for k, v in settings(c["child"]).items()}
    assert vm_settings["box"] == "debian/trixie64"
    nodes = machines(declared)
    assert list(nodes) == list(EXPECTED)
    for name, node in nodes.items():
        vm = [c for c in calls(node, "vm")]
        networks = [n for v in vm for n in calls(v["child"], "network")]
        assert [(n["args"], n["kw"]["ip"]) for n in networks] == [(["private_network"], EXPECTED[name])]
        assert networks[0]["kw"]["libvirt__forward_mode"] == "none"
        hostnames = [settings(v["child"]).get("hostname") for v in vm]
        assert name in hostnames
        providers = sorted(p["args"][0] for v in vm for p in calls(v["child"], "provider"))
        assert providers == ["libvirt", "virtualbox"]


def provisions(node: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for v in calls(node, "vm") for p in calls(v["child"], "provision")]


def test_every_node_gets_the_keyring_salt_and_a_key_check(declared: list[dict[str, Any]]) -> None:
    for name, node in machines(declared).items():
        steps = {p["args"][0]: p["kw"] for p in provisions(node)}
        assert steps["keyring"]["destination"] == "/tmp/pigsalt.gpg"
        script = steps["salt"]["inline"]
        assert f"pigsalt master minion-config --master 10.10.10.10 --id {name}" in script
        assert "signed-by=/etc/apt/keyrings/pigsalt-archive-keyring.gpg" in script
        assert "trusted=yes" not in script
        triggers = [t for t in calls(node, "trigger") if t["call"] == "trigger"]
        afters = [a for t in triggers for a in calls(t["child"], "after")]
        assert afters and afters[0]["args"] == ["up", "provision"]
        assert [r["block_arity"] for r in calls(afters[0]["child"], "ruby")] == [2]
    meta = {p["args"][0]: p["kw"] for p in provisions(machines(declared)["meta"])}
    assert list(meta) == ["keyring", "repo-tarball", "repo", "salt", "master"]
    assert "pigsalt master setup --project /srv/pigsalt" in meta["master"]["inline"]
    assert "auto_accept" not in VAGRANTFILE.read_text().replace("never auto_accept", "")


def test_provisioning_scripts_are_valid_bash(declared: list[dict[str, Any]], tmp_path: Path) -> None:
    for name, node in machines(declared).items():
        for step in provisions(node):
            inline = step["kw"].get("inline")
            if inline is None:
                continue
            script = tmp_path / f"{name}-{step['args'][0]}.sh"
            script.write_text(inline)
            proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
            assert proc.returncode == 0, f"{script.name}: {proc.stderr}"
            assert inline.startswith("set -euo pipefail\n"), script.name
