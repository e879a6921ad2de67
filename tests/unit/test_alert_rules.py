"""The Prometheus rules in salt/prometheus/files/rules/: promtool accepts them and their unit tests pass,
and no alert or recording rule goes untested or without its severity and annotations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

RULES = ROOT / "salt" / "prometheus" / "files" / "rules"
TESTS = ROOT / "tests" / "promtool"
RULE_FILES = sorted(RULES.glob("*.yml"))
TEST_FILES = sorted(TESTS.glob("*.test.yml"))
SEVERITIES = {"CRIT", "WARN", "INFO"}

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed: `make deps` installs Debian's prometheus package",
)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.relative_to(ROOT)}: not a YAML mapping"
    return data


def _rules(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every rule of ``kind`` ("alert" or "record") with the file that defines it."""
    return [
        (path, rule)
        for path in RULE_FILES
        for group in _load(path)["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def _cases(key: str) -> list[dict[str, Any]]:
    """Every ``alert_rule_test`` or ``promql_expr_test`` case of every test file."""
    return [case for path in TEST_FILES for test in _load(path)["tests"] for case in test.get(key, [])]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_every_rule_file_has_its_test_file():
    assert [p.name for p in RULE_FILES] == [
        "backup.yml",
        "etcd.yml",
        "haproxy.yml",
        "infra.yml",
        "node.yml",
        "patroni.yml",
        "pgbouncer.yml",
        "pgsql.yml",
    ]
    assert [p.name.removesuffix(".test.yml") for p in TEST_FILES] == [p.stem for p in RULE_FILES]
    for path in TEST_FILES:
        stem = path.name.removesuffix(".test.yml")
        assert _load(path)["rule_files"] == [f"../../salt/prometheus/files/rules/{stem}.yml"]


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(path: Path):
    result = _promtool("check", "rules", str(path.relative_to(ROOT)))
    assert result.returncode == 0, f"{path.relative_to(ROOT)}:\n{result.stdout}{result.stderr}"


@needs_promtool
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path):
    result = _promtool("test", "rules", str(path.relative_to(ROOT)))
    assert result.returncode == 0, f"{path.relative_to(ROOT)}:\n{result.stdout}{result.stderr}"


def test_every_alert_is_tested_firing_and_silent():
    alerts = {rule["alert"] for _, rule in _rules("alert")}
    cases = _cases("alert_rule_test")
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if case.get("exp_alerts") == []}
    assert sorted(alerts - fired) == [], "alerts no test expects to fire"
    assert sorted(alerts - silent) == [], "alerts no test expects to stay silent (exp_alerts: [])"
    assert sorted((fired | silent) - alerts) == [], "tests of alerts no rule file defines"


def test_every_recording_rule_is_tested():
    records = {rule["record"] for _, rule in _rules("record")}
    tested = {case["expr"] for case in _cases("promql_expr_test")}
    assert sorted(records - tested) == [], "recording rules no promql_expr_test evaluates"


def test_alert_names_are_unique():
    names = [rule["alert"] for _, rule in _rules("alert")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


@pytest.mark.parametrize("path,rule", _rules("alert"), ids=lambda v: v["alert"] if isinstance(v, dict) else v.name)
def test_alert_has_severity_and_annotations(path: Path, rule: dict[str, Any]):
    where = f"{path.relative_to(ROOT)}: {rule['alert']}"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, where
    annotations = rule.get("annotations", {})
    assert set(annotations) == {"summary", "description"}, where
    # Whoever reads the alert learns which cluster (and instance) and the value behind it.
    assert annotations["summary"].startswith("{{ $labels.cls }}"), where
    assert "$value" in annotations["summary"] + annotations["description"], where
