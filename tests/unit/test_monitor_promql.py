"""Every query of the dashboards, of the console library and of Grafana's variables is valid
PromQL (promtool parses it as a recording rule), and names only metrics checked against the
exporters pigsalt installs or recorded by pigsalt's own rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pigsalt.monitor import consoles, grafana
from pigsalt.monitor.panels import DASHBOARDS, RATE_INTERVAL, Query, seconds, variables_in
from tests.conftest import ROOT

SAMPLE = {"cls": "pg-test", "ins": "pg-test-1", "ip": "10.10.10.11"}
RULES = ROOT / "salt" / "prometheus" / "files" / "rules"

# Checked against each exporter's /metrics (docs/dashboards.md says which versions and how).
EXPORTED = {
    # node_exporter 1.5.0 and 1.9.0
    "node_cpu_seconds_total",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_Cached_bytes",
    "node_memory_Buffers_bytes",
    "node_disk_io_time_seconds_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_timex_offset_seconds",
    "node_time_seconds",
    # postgres_exporter 0.11.1 and 0.17.1, default collectors
    "pg_up",
    "pg_stat_activity_count",
    "pg_stat_database_numbackends",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_stat_database_tup_returned",
    "pg_stat_database_tup_fetched",
    "pg_stat_database_tup_inserted",
    "pg_stat_database_tup_updated",
    "pg_stat_database_tup_deleted",
    "pg_database_size_bytes",
    "pg_stat_replication_pg_wal_lsn_diff",
    # Pgbouncer: the Go exporter 0.10.2 and pigsalt.agent.pgbouncer_exporter
    "pgbouncer_up",
    "pgbouncer_pools_client_active_connections",
    "pgbouncer_pools_client_waiting_connections",
    "pgbouncer_pools_server_active_connections",
    "pgbouncer_pools_server_idle_connections",
    "pgbouncer_pools_server_used_connections",
    "pgbouncer_pools_client_maxwait_seconds",
    "pgbouncer_stats_queries_pooled_total",
    # HAProxy 2.6 and 3.0 (promex)
    "haproxy_backend_current_sessions",
    "haproxy_backend_sessions_total",
    "haproxy_backend_current_queue",
    "haproxy_backend_bytes_in_total",
    "haproxy_backend_bytes_out_total",
    # Patroni 4.0 and 4.1
    "patroni_primary",
    "patroni_replica",
    "patroni_postgres_timeline",
    "patroni_postgres_streaming",
    "patroni_dcs_last_seen",
    "patroni_is_paused",
    "patroni_failsafe_mode_is_active",
    # pigsalt.agent.backup_metrics (textfile of the node exporter), checked below
    "pigsalt_backup_info_up",
    "pigsalt_backup_last_good_seconds",
    "pigsalt_backup_last_duration_seconds",
    "pigsalt_backup_count",
    "pigsalt_backup_repository_bytes",
    "pigsalt_archive_primary",
    "pigsalt_archive_last_archived_seconds",
    "pigsalt_archive_ready_segments",
    "pigsalt_archive_archived_total",
    "pigsalt_archive_failed_total",
    # Prometheus itself
    "up",
    "ALERTS",
}
_KEYWORDS = {"and", "or", "unless", "offset", "bool"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")


def _recorded() -> set[str]:
    return {
        rule["record"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def _every_query() -> list[tuple[str, str]]:
    """(where, expr) for every PromQL expression the dashboards and pages run."""
    found = [(f"{d.uid}/{p.title}", q.expr) for d in DASHBOARDS for p in d.panels for q in p.queries]
    found += [(f"consoles/{name}", expr) for name, expr in consoles.LIBRARY_QUERIES.items()]
    for d in DASHBOARDS:
        for index, variable in enumerate(d.variables):
            query = grafana.variable_query(variable, d.variables[:index])
            found.append((f"{d.uid}/${variable.name}", query.removeprefix("label_values(").rsplit(", ", 1)[0]))
    return found


def _substituted(expr: str) -> str:
    expr = expr.replace(RATE_INTERVAL, "1m")
    for name in variables_in(expr):
        expr = expr.replace(f"${name}", SAMPLE[name])
    return expr


def _metrics(expr: str) -> set[str]:
    """The metric names of ``expr``: its identifiers outside strings, matchers, ranges and
    groupings that are not functions or keywords."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = _GROUPING.sub("", bare)
    return set(_IDENTIFIER.findall(bare)) - _KEYWORDS


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed: `make deps` installs Debian's prometheus package",
)
def test_every_query_passes_promtool(tmp_path: Path):
    queries = _every_query()
    rules = {
        "groups": [
            {
                "name": "pigsalt-dashboards",
                "rules": [
                    {"record": f"pigsalt:dashboard:q{i}", "expr": _substituted(e)} for i, (_, e) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_queries_name_only_checked_metrics():
    known = EXPORTED | _recorded()
    unknown = {where: sorted(_metrics(expr) - known) for where, expr in _every_query() if _metrics(expr) - known}
    assert unknown == {}


def test_metric_extraction():
    assert _metrics('sum by (cls) (rate(x_total{a="b c"}[1m])) / on (cls) group_left () max(y) or vector(0)') == {
        "x_total",
        "y",
    }
    assert _metrics('count by (severity) (ALERTS{alertstate="firing"})') == {"ALERTS"}


def test_every_exported_name_is_used():
    used = set().union(*(_metrics(expr) for _, expr in _every_query()))
    assert sorted(EXPORTED - used) == []


def test_the_sample_substitution_leaves_no_variable():
    for where, expr in _every_query():
        assert "$" not in _substituted(expr), where


@pytest.mark.parametrize(
    ("expr", "legend", "error"),
    [
        ("up{{x}}", "a", "Go templates"),
        ("up", " ", "without a legend"),
        ("up{cls=~$cls}", "a", "whole quoted label value"),
    ],
)
def test_query_refuses_what_a_renderer_cannot_translate(expr: str, legend: str, error: str):
    with pytest.raises(ValueError, match=error):
        Query(expr, legend)


def test_seconds():
    assert [seconds(d) for d in ("10s", "1m", "500ms", "2h")] == [10, 60, 0.5, 7200]
    with pytest.raises(ValueError, match="not a duration"):
        seconds("1m30s")


def test_pigsalts_own_metrics_are_written_by_the_backup_textfile():
    source = (ROOT / "pigsalt" / "agent" / "backup_metrics.py").read_text()
    for name in sorted(m for m in EXPORTED if m.startswith("pigsalt_")):
        assert re.search(rf'_line\(\s*"{name}"', source), name
