"""The dashboards, written once: ``grafana`` and ``consoles`` render the same panels.

A query is PromQL in Grafana's dialect, the one both renderers can translate: ``$cls`` and
``$ins`` stand for the dashboard's variables, always as a whole label value inside double quotes
(``{cls="$cls"}``), and ``$__rate_interval`` for the range of a ``rate()``. A legend is
Grafana's ``{{label}}`` format. Nothing else is templated, so each renderer's substitution is
complete and a test can substitute sample values and hand every query to ``promtool``.

Every target carries ``job``, ``cls``, ``ins``, ``ip`` and ``instance`` (and ``role`` for the
Postgres jobs); a node target's ``ins`` is the node's name, every other target's the Postgres
instance on that node. The metric names are the exporters' that pigsalt installs (checked
against each of them; docs/dashboards.md and docs/alerts.md say how), and the recording rules of
``salt/prometheus/files/rules/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DASHBOARDS",
    "LEGEND_LABEL",
    "RATE_INTERVAL",
    "VARIABLE",
    "VARIABLE_JOBS",
    "Dashboard",
    "Kind",
    "Mapping",
    "Panel",
    "Query",
    "Row",
    "Unit",
    "Variable",
    "seconds",
    "variables_in",
]

# Grafana's panel types; both renderers draw a ``timeseries`` as a graph over time, and show
# the current value of each series for ``stat`` (one figure each) and ``table`` (one line each).
Kind = Literal["timeseries", "stat", "table"]
# Grafana's unit identifiers, each with its console formatter (``consoles.UNITS``).
Unit = Literal["short", "percentunit", "bytes", "Bps", "s", "ops"]
VariableName = Literal["cls", "ins"]

RATE_INTERVAL = "$__rate_interval"
# A variable of a query (``$cls``), and a label of a legend (``{{ins}}``); the renderers replace both.
VARIABLE = re.compile(r"\$(\w+)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_DURATION = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
# The job whose targets list a variable's values: a node's ``ins`` is its name, not an instance's.
VARIABLE_JOBS = ("pgsql", "node")


def seconds(duration: str) -> float:
    """A Prometheus duration of one unit (``10s``, ``1m``, ``500ms``) in seconds."""
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"{duration!r} is not a duration like 10s or 1m")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def variables_in(expr: str) -> set[str]:
    """The dashboard variables ``expr`` uses (``$__rate_interval`` is Grafana's, not one of them)."""
    return {name for name in VARIABLE.findall(expr) if name != RATE_INTERVAL[1:]}


@dataclass(frozen=True)
class Query:
    """One PromQL expression and the legend of its series (``{{ins}} {{datname}}``)."""

    expr: str
    legend: str

    def __post_init__(self) -> None:
        # Console pages are Go templates: a "{{" of the query would open an action there.
        if "{{" in self.expr or "}}" in self.expr:
            raise ValueError(
                f"a query holds '{{{{' or '}}}}', which Go templates would take for an action: {self.expr}"
            )
        if not self.legend.strip():
            raise ValueError(f"a query without a legend (the console graphs need one): {self.expr}")
        for name in VARIABLE.findall(self.expr):
            if f'"${name}"' not in self.expr and f"${name}" != RATE_INTERVAL:
                raise ValueError(f"${name} must be a whole quoted label value, or {RATE_INTERVAL}: {self.expr}")

    @property
    def legend_labels(self) -> list[str]:
        """The labels the legend names, in order."""
        return LEGEND_LABEL.findall(self.legend)


@dataclass(frozen=True)
class Mapping:
    """A value shown as text (a stat's 1 as "primary"), in a colour Grafana and the consoles know."""

    value: int
    text: str
    color: Literal["green", "red", "blue", "orange"]


@dataclass(frozen=True)
class Panel:
    """A graph or a current-value display. ``width`` is in Grafana's 24 columns."""

    title: str
    unit: Unit
    queries: tuple[Query, ...]
    kind: Kind = "timeseries"
    width: int = 12
    description: str = ""
    mappings: tuple[Mapping, ...] = ()

    def __post_init__(self) -> None:
        if not self.queries:
            raise ValueError(f"panel {self.title!r} has no query")
        if not 1 <= self.width <= 24 or self.width % 2:
            raise ValueError(f"panel {self.title!r}: width {self.width} is not an even number of the 24 columns")

    @property
    def height(self) -> int:
        """Grafana grid rows: a row of figures is short, a graph or a table is not."""
        return 4 if self.kind == "stat" else 8


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A dashboard variable: the values of label ``name`` on the targets of ``job``."""

    name: VariableName
    label: str
    job: str

    def __post_init__(self) -> None:
        if self.job not in VARIABLE_JOBS:
            raise ValueError(f"variable {self.name}: job {self.job!r} is not one of {VARIABLE_JOBS}")


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: its Grafana uid is also its console page's name (``<uid>.html``)."""

    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]

    def __post_init__(self) -> None:
        declared = {v.name for v in self.variables}
        for panel in self.panels:
            for query in panel.queries:
                unknown = variables_in(query.expr) - declared
                if unknown:
                    raise ValueError(f"{self.uid}/{panel.title}: undeclared variable(s) {sorted(unknown)}")

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)


# --- building blocks --------------------------------------------------------------------------

UP_DOWN = (Mapping(1, "up", "green"), Mapping(0, "down", "red"))
ROLE = (Mapping(1, "primary", "blue"), Mapping(0, "replica", "green"))
ON_OFF = (Mapping(1, "yes", "orange"), Mapping(0, "no", "green"))
CLS = Variable("cls", "Cluster", "pgsql")
INS = Variable("ins", "Instance", "pgsql")
NODE = Variable("ins", "Node", "node")

_RANGE = f"[{RATE_INTERVAL}]"


def _rate(metric: str, selector: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}{_RANGE}))"


def _tps(selector: str, by: str) -> str:
    """Transactions per second, committed and rolled back, of every database."""
    commit = _rate("pg_stat_database_xact_commit", selector, by)
    rollback = _rate("pg_stat_database_xact_rollback", selector, by)
    return f"{commit} + {rollback}"


# --- the dashboards ---------------------------------------------------------------------------

OVERVIEW = Dashboard(
    uid="pigsalt-overview",
    title="pigsalt: overview",
    description="Every cluster and node at a glance.",
    variables=(),
    rows=(
        Row(
            "Now",
            (
                Panel("Clusters", "short", (Query('count(count by (cls) (up{job="pgsql"}))', "clusters"),), "stat", 6),
                Panel("Members up", "short", (Query("sum(pg_up)", "Postgres up"),), "stat", 6),
                Panel(
                    "Members down",
                    "short",
                    (Query('count(pg_up == 0 or up{job="pgsql"} == 0) or vector(0)', "Postgres down"),),
                    "stat",
                    6,
                    "Postgres that its exporter cannot reach, and exporters Prometheus cannot scrape.",
                ),
                Panel(
                    "Firing alerts",
                    "short",
                    (Query('count(ALERTS{alertstate="firing"}) or vector(0)', "firing"),),
                    "stat",
                    6,
                    "docs/alerts.md explains each alert; Prometheus' /alerts page lists them.",
                ),
            ),
        ),
        Row(
            "Clusters",
            (
                Panel(
                    "Members up and down",
                    "short",
                    (
                        Query("sum by (cls) (pg_up)", "{{cls}} up"),
                        Query('count by (cls) (pg_up == 0 or up{job="pgsql"} == 0)', "{{cls}} down"),
                    ),
                ),
                Panel(
                    "Primaries",
                    "short",
                    (Query("pg:cls:primaries", "{{cls}}"),),
                    description="Members running as primary, by Patroni: 1 in a healthy cluster.",
                ),
                Panel("Transactions per second", "ops", (Query(_tps('job="pgsql"', "cls"), "{{cls}}"),)),
                Panel(
                    "Queries per second through Pgbouncer",
                    "ops",
                    (Query(_rate("pgbouncer_stats_queries_pooled_total", 'job="pgbouncer"', "cls"), "{{cls}}"),),
                    description="Postgres counts no queries without pg_stat_statements; Pgbouncer does.",
                ),
                Panel(
                    "Replication lag, worst replica",
                    "bytes",
                    (Query("max by (cls) (pg:ins:lag_bytes)", "{{cls}}"),),
                ),
                Panel(
                    "Firing alerts by severity",
                    "short",
                    (Query('count by (severity) (ALERTS{alertstate="firing"})', "{{severity}}"),),
                ),
            ),
        ),
        Row(
            "Nodes",
            (
                Panel("CPU busy", "percentunit", (Query("node:ins:cpu_usage", "{{ins}}"),)),
                Panel("Memory used", "percentunit", (Query("1 - node:ins:mem_avail_ratio", "{{ins}}"),)),
            ),
        ),
    ),
)

_C = 'cls="$cls"'
CLUSTER = Dashboard(
    uid="pigsalt-cluster",
    title="pigsalt: cluster",
    description="One cluster: its members, their load and replication, its pools and services.",
    variables=(CLS,),
    rows=(
        Row(
            "Members",
            (
                Panel(
                    "Role",
                    "short",
                    (Query(f"max by (ins, ip) (patroni_primary{{{_C}}})", "{{ins}}"),),
                    "table",
                    description="As Patroni reports it now (the targets' role label follows it after a role change).",
                    mappings=ROLE,
                ),
                Panel(
                    "Postgres",
                    "short",
                    (Query(f"max by (ins, ip) (pg_up{{{_C}}})", "{{ins}}"),),
                    "table",
                    mappings=UP_DOWN,
                ),
            ),
        ),
        Row(
            "Load",
            (
                Panel(
                    "Client backends",
                    "short",
                    (Query(f"sum by (ins) (pg_stat_database_numbackends{{{_C}}})", "{{ins}}"),),
                ),
                Panel(
                    "Connections used of max_connections",
                    "percentunit",
                    (Query(f"pg:ins:conn_usage{{{_C}}}", "{{ins}}"),),
                ),
                Panel("Transactions per second", "ops", (Query(_tps(_C, "ins"), "{{ins}}"),)),
                Panel(
                    "Replication lag",
                    "bytes",
                    (Query(f"pg:ins:lag_bytes{{{_C}}}", "{{ins}}"),),
                    description="Replay lag of each replica as its upstream sees it.",
                ),
            ),
        ),
        Row(
            "Pgbouncer and HAProxy",
            (
                Panel(
                    "Pgbouncer clients waiting",
                    "short",
                    (Query(f"sum by (ins) (pgbouncer_pools_client_waiting_connections{{{_C}}})", "{{ins}}"),),
                ),
                Panel(
                    "HAProxy servers up per service",
                    "short",
                    (Query(f"haproxy:svc:servers_up{{{_C}}}", "{{service}} on {{ins}}"),),
                    description="Every member's HAProxy serves every service; 0 means the service refuses clients.",
                ),
            ),
        ),
    ),
)

_I = 'cls="$cls", ins="$ins"'
INSTANCE = Dashboard(
    uid="pigsalt-instance",
    title="pigsalt: instance",
    description="One Postgres instance, and the Pgbouncer in front of it.",
    variables=(CLS, INS),
    rows=(
        Row(
            "Now",
            (
                Panel("Postgres", "short", (Query(f"pg_up{{{_I}}}", "{{ins}}"),), "stat", 6, mappings=UP_DOWN),
                Panel("Role", "short", (Query(f"patroni_primary{{{_I}}}", "{{ins}}"),), "stat", 6, mappings=ROLE),
                Panel(
                    "Connections used",
                    "percentunit",
                    (Query(f"pg:ins:conn_usage{{{_I}}}", "{{ins}}"),),
                    "stat",
                    6,
                ),
                Panel(
                    "Replication lag",
                    "bytes",
                    (Query(f"pg:ins:lag_bytes{{{_I}}}", "{{ins}}"),),
                    "stat",
                    6,
                    "A replica's replay lag; a primary has none.",
                ),
            ),
        ),
        Row(
            "Activity",
            (
                Panel(
                    "Backends by state",
                    "short",
                    (Query(f"sum by (state) (pg_stat_activity_count{{{_I}}})", "{{state}}"),),
                ),
                Panel(
                    "Transactions",
                    "ops",
                    (
                        Query(f"sum(rate(pg_stat_database_xact_commit{{{_I}}}{_RANGE}))", "commit"),
                        Query(f"sum(rate(pg_stat_database_xact_rollback{{{_I}}}{_RANGE}))", "rollback"),
                    ),
                ),
                Panel(
                    "Rows read",
                    "ops",
                    (
                        Query(f"sum(rate(pg_stat_database_tup_returned{{{_I}}}{_RANGE}))", "returned (scanned)"),
                        Query(f"sum(rate(pg_stat_database_tup_fetched{{{_I}}}{_RANGE}))", "fetched (by index)"),
                    ),
                ),
                Panel(
                    "Rows written",
                    "ops",
                    (
                        Query(f"sum(rate(pg_stat_database_tup_inserted{{{_I}}}{_RANGE}))", "inserted"),
                        Query(f"sum(rate(pg_stat_database_tup_updated{{{_I}}}{_RANGE}))", "updated"),
                        Query(f"sum(rate(pg_stat_database_tup_deleted{{{_I}}}{_RANGE}))", "deleted"),
                    ),
                ),
            ),
        ),
        Row(
            "Storage and replication",
            (
                Panel(
                    "Database size",
                    "bytes",
                    (Query(f"max by (datname) (pg_database_size_bytes{{{_I}}})", "{{datname}}"),),
                ),
                Panel(
                    "Replication lag",
                    "bytes",
                    (
                        Query(f"pg:ins:lag_bytes{{{_I}}}", "this replica"),
                        Query(
                            f"max by (application_name) (pg_stat_replication_pg_wal_lsn_diff{{{_I}}})",
                            "{{application_name}} (streams from here)",
                        ),
                    ),
                    description="This replica's lag, and on an upstream the lag of each replica streaming from it.",
                ),
            ),
        ),
        Row(
            "Pgbouncer",
            (
                Panel(
                    "Pgbouncer clients",
                    "short",
                    (
                        Query(
                            f"sum by (database) (pgbouncer_pools_client_active_connections{{{_I}}})",
                            "{{database}} active",
                        ),
                        Query(
                            f"sum by (database) (pgbouncer_pools_client_waiting_connections{{{_I}}})",
                            "{{database}} waiting",
                        ),
                    ),
                ),
                Panel(
                    "Pgbouncer server connections",
                    "short",
                    (
                        Query(
                            f"sum by (database) (pgbouncer_pools_server_active_connections{{{_I}}})",
                            "{{database}} active",
                        ),
                        Query(
                            f"sum by (database) (pgbouncer_pools_server_idle_connections{{{_I}}})",
                            "{{database}} idle",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

_N = 'ins="$ins"'
NODE_DASHBOARD = Dashboard(
    uid="pigsalt-node",
    title="pigsalt: node",
    description="One node, by its name: CPU, memory, disks, network, clock.",
    variables=(NODE,),
    rows=(
        Row(
            "CPU and memory",
            (
                Panel(
                    "CPU busy by mode",
                    "percentunit",
                    (
                        Query(
                            f'avg by (mode) (rate(node_cpu_seconds_total{{{_N}, mode!="idle"}}{_RANGE}))',
                            "{{mode}}",
                        ),
                        Query(f"node:ins:cpu_usage{{{_N}}}", "busy (5m)"),
                    ),
                    description="Share of all cores' time.",
                ),
                Panel(
                    "Load",
                    "short",
                    (
                        Query(f"node_load1{{{_N}}}", "1m"),
                        Query(f"node_load5{{{_N}}}", "5m"),
                        Query(f"node_load15{{{_N}}}", "15m"),
                    ),
                ),
                Panel(
                    "Memory",
                    "bytes",
                    (
                        Query(
                            f"node_memory_MemTotal_bytes{{{_N}}} - node_memory_MemAvailable_bytes{{{_N}}}",
                            "used",
                        ),
                        Query(f"node_memory_Cached_bytes{{{_N}}} + node_memory_Buffers_bytes{{{_N}}}", "cache"),
                        Query(f"node_memory_MemFree_bytes{{{_N}}}", "free"),
                        Query(f"node_memory_MemTotal_bytes{{{_N}}}", "total"),
                    ),
                ),
                Panel(
                    "Clock offset",
                    "s",
                    (
                        Query(f"node_timex_offset_seconds{{{_N}}}", "kernel offset"),
                        Query(f"node_time_seconds{{{_N}}} - timestamp(node_time_seconds{{{_N}}})", "from Prometheus"),
                    ),
                    description="What chronyd has still to correct (the kernel's estimate; a container may not "
                    "expose it) and the node's clock against Prometheus' at each scrape; NodeClockDrift fires past "
                    "50ms and 1s.",
                ),
            ),
        ),
        Row(
            "Disks and network",
            (
                Panel(
                    "Filesystem free",
                    "percentunit",
                    (Query(f"node:fs:free_ratio{{{_N}}}", "{{mountpoint}}"),),
                ),
                Panel(
                    "Disk busy",
                    "percentunit",
                    (Query(f"rate(node_disk_io_time_seconds_total{{{_N}}}{_RANGE})", "{{device}}"),),
                    description="Share of time each disk had I/O in flight.",
                ),
                Panel(
                    "Disk I/O",
                    "Bps",
                    (
                        Query(f"rate(node_disk_read_bytes_total{{{_N}}}{_RANGE})", "{{device}} read"),
                        Query(f"rate(node_disk_written_bytes_total{{{_N}}}{_RANGE})", "{{device}} written"),
                    ),
                ),
                Panel(
                    "Network",
                    "Bps",
                    (
                        Query(
                            f'rate(node_network_receive_bytes_total{{{_N}, device!="lo"}}{_RANGE})',
                            "{{device}} in",
                        ),
                        Query(
                            f'rate(node_network_transmit_bytes_total{{{_N}, device!="lo"}}{_RANGE})',
                            "{{device}} out",
                        ),
                    ),
                ),
            ),
        ),
    ),
)

PGBOUNCER = Dashboard(
    uid="pigsalt-pgbouncer",
    title="pigsalt: Pgbouncer",
    description="The pools of every member's Pgbouncer, per database.",
    variables=(CLS,),
    rows=(
        Row(
            "Pgbouncer",
            (Panel("Pgbouncer", "short", (Query(f"pgbouncer_up{{{_C}}}", "{{ins}}"),), "stat", 24, mappings=UP_DOWN),),
        ),
        Row(
            "Clients",
            (
                Panel(
                    "Clients active",
                    "short",
                    (
                        Query(
                            f"sum by (ins, database) (pgbouncer_pools_client_active_connections{{{_C}}})",
                            "{{database}} on {{ins}}",
                        ),
                    ),
                ),
                Panel(
                    "Clients waiting",
                    "short",
                    (
                        Query(
                            f"sum by (ins, database) (pgbouncer_pools_client_waiting_connections{{{_C}}})",
                            "{{database}} on {{ins}}",
                        ),
                    ),
                ),
                Panel(
                    "Longest wait",
                    "s",
                    (
                        Query(
                            f"max by (ins, database) (pgbouncer_pools_client_maxwait_seconds{{{_C}}})",
                            "{{database}} on {{ins}}",
                        ),
                    ),
                    description="How long the oldest waiting client of each pool has waited.",
                ),
                Panel(
                    "Queries per second",
                    "ops",
                    (
                        Query(
                            _rate("pgbouncer_stats_queries_pooled_total", _C, "ins, database"),
                            "{{database}} on {{ins}}",
                        ),
                    ),
                ),
            ),
        ),
        Row(
            "Servers",
            (
                Panel(
                    "Server connections",
                    "short",
                    (
                        Query(
                            f"sum by (ins, database) (pgbouncer_pools_server_active_connections{{{_C}}})",
                            "{{database}} on {{ins}} active",
                        ),
                        Query(
                            f"sum by (ins, database) (pgbouncer_pools_server_idle_connections{{{_C}}})",
                            "{{database}} on {{ins}} idle",
                        ),
                        Query(
                            f"sum by (ins, database) (pgbouncer_pools_server_used_connections{{{_C}}})",
                            "{{database}} on {{ins}} used",
                        ),
                    ),
                ),
                Panel(
                    "Pool usage",
                    "percentunit",
                    (Query(f"max by (ins, database) (pgbouncer:pool:usage{{{_C}}})", "{{database}} on {{ins}}"),),
                    description="Server connections of the fullest user pool over the database's pool_size.",
                ),
            ),
        ),
    ),
)

_SERVICE = "{{proxy}} on {{ins}}"
HAPROXY = Dashboard(
    uid="pigsalt-haproxy",
    title="pigsalt: HAProxy",
    description="The services of a cluster, as every member's HAProxy serves them.",
    variables=(CLS,),
    rows=(
        Row(
            "Services",
            (
                Panel(
                    "Servers up per service",
                    "short",
                    (Query(f"haproxy:svc:servers_up{{{_C}}}", "{{service}} on {{ins}}"),),
                    description="Its -backup backend included; 0 means the service refuses clients.",
                ),
                Panel(
                    "Sessions",
                    "short",
                    (Query(f"haproxy_backend_current_sessions{{{_C}}}", _SERVICE),),
                ),
                Panel(
                    "New sessions per second",
                    "ops",
                    (Query(f"rate(haproxy_backend_sessions_total{{{_C}}}{_RANGE})", _SERVICE),),
                ),
                Panel(
                    "Queued connections",
                    "short",
                    (Query(f"haproxy_backend_current_queue{{{_C}}}", _SERVICE),),
                    description="Connections waiting for a server below its maxconn.",
                ),
                Panel(
                    "Bytes",
                    "Bps",
                    (
                        Query(f"rate(haproxy_backend_bytes_in_total{{{_C}}}{_RANGE})", f"{_SERVICE} in"),
                        Query(f"rate(haproxy_backend_bytes_out_total{{{_C}}}{_RANGE})", f"{_SERVICE} out"),
                    ),
                    width=24,
                ),
            ),
        ),
    ),
)

PATRONI = Dashboard(
    uid="pigsalt-patroni",
    title="pigsalt: Patroni and HA",
    description="Who is primary, failovers, the DCS as each member sees it.",
    variables=(CLS,),
    rows=(
        Row(
            "Now",
            (
                Panel("Primaries", "short", (Query(f"pg:cls:primaries{{{_C}}}", "primaries"),), "stat", 6),
                Panel(
                    "Failovers in the last hour",
                    "short",
                    (Query(f"max(changes(patroni_postgres_timeline{{{_C}}}[1h]))", "timeline changes"),),
                    "stat",
                    6,
                    "Each failover or switchover starts a new timeline.",
                ),
                Panel(
                    "Paused",
                    "short",
                    (Query(f"max by (ins) (patroni_is_paused{{{_C}}})", "{{ins}}"),),
                    "stat",
                    6,
                    "Maintenance mode: no automatic failover.",
                    mappings=ON_OFF,
                ),
                Panel(
                    "Failsafe mode active",
                    "short",
                    (Query(f"max by (ins) (patroni_failsafe_mode_is_active{{{_C}}})", "{{ins}}"),),
                    "stat",
                    6,
                    "The DCS is unreachable; the primary stays up because every member answers it.",
                    mappings=ON_OFF,
                ),
            ),
        ),
        Row(
            "Roles and timelines",
            (
                Panel(
                    "Role (1 = primary)",
                    "short",
                    (Query(f"max by (ins) (patroni_primary{{{_C}}})", "{{ins}}"),),
                ),
                Panel(
                    "Timeline",
                    "short",
                    (Query(f"max by (ins) (patroni_postgres_timeline{{{_C}}})", "{{ins}}"),),
                ),
                Panel(
                    "Replicas streaming (1 = yes)",
                    "short",
                    (Query(f"max by (ins) (patroni_postgres_streaming{{{_C}}} and patroni_replica == 1)", "{{ins}}"),),
                ),
                Panel(
                    "DCS last reached",
                    "s",
                    (Query(f"max by (ins) (time() - patroni_dcs_last_seen{{{_C}}})", "{{ins}}"),),
                    description="Seconds since each member's Patroni last reached etcd; a primary past ttl steps down.",
                ),
            ),
        ),
    ),
)

# pgBackRest's figures come from pigsalt.agent.backup_metrics (a textfile of each backed-up
# member's node exporter, job `node`): every member reports the same repository, so the panels
# take the newest or largest answer of the cluster's stanza, which is the cluster's name.
_S = 'stanza="$cls"'
_ARCHIVER = f"and on (instance) (pigsalt_archive_primary{{{_S}}} == 1)"

BACKUP = Dashboard(
    uid="pigsalt-backup",
    title="pigsalt: backups and WAL archive",
    description="pgBackRest's repository and the primary's archiver: can this cluster be restored, and to when.",
    variables=(CLS,),
    rows=(
        Row(
            "Now",
            (
                Panel(
                    "Newest full backup",
                    "s",
                    (Query(f'time() - max(pigsalt_backup_last_good_seconds{{{_S}, type="full"}})', "age"),),
                    "stat",
                    6,
                    "Seconds since the newest good full backup ended (PgBackupTooOld fires past the schedule's gap).",
                ),
                Panel(
                    "Repository answers",
                    "short",
                    (Query(f"max(pigsalt_backup_info_up{{{_S}}})", "pgbackrest info"),),
                    "stat",
                    6,
                    "pgbackrest info reads the stanza from the repository on the meta node.",
                    mappings=UP_DOWN,
                ),
                Panel(
                    "Good backups",
                    "short",
                    (Query(f"max(pigsalt_backup_count{{{_S}}})", "backups"),),
                    "stat",
                    6,
                    "Full, differential and incremental backups the repository holds (retention decides how many).",
                ),
                Panel(
                    "Repository size",
                    "bytes",
                    (Query(f"max(pigsalt_backup_repository_bytes{{{_S}}})", "backups"),),
                    "stat",
                    6,
                    "What the backups take in the repository, compressed, WAL aside.",
                ),
            ),
        ),
        Row(
            "Backups",
            (
                Panel(
                    "Age of the newest backup, by type",
                    "s",
                    (Query(f"time() - max by (type) (pigsalt_backup_last_good_seconds{{{_S}}})", "{{type}}"),),
                ),
                Panel(
                    "Duration of the newest backup, by type",
                    "s",
                    (Query(f"max by (type) (pigsalt_backup_last_duration_seconds{{{_S}}})", "{{type}}"),),
                ),
            ),
        ),
        Row(
            "WAL archive (the primary)",
            (
                Panel(
                    "Since the last WAL segment archived",
                    "s",
                    (
                        Query(
                            f"time() - max by (ins) (pigsalt_archive_last_archived_seconds{{{_S}}} {_ARCHIVER})",
                            "{{ins}}",
                        ),
                    ),
                    description="A restore reaches no further than the last archived segment.",
                ),
                Panel(
                    "Segments waiting to be archived",
                    "short",
                    (Query(f"max by (ins) (pigsalt_archive_ready_segments{{{_S}}} {_ARCHIVER})", "{{ins}}"),),
                    description="Completed WAL segments not archived yet (PgArchiveLag past 16 for 10 minutes).",
                ),
                Panel(
                    "Segments archived and failed per second",
                    "ops",
                    (
                        Query(
                            f"sum by (ins) (rate(pigsalt_archive_archived_total{{{_S}}}{_RANGE}))", "{{ins}} archived"
                        ),
                        Query(f"sum by (ins) (rate(pigsalt_archive_failed_total{{{_S}}}{_RANGE}))", "{{ins}} failed"),
                    ),
                    width=24,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, CLUSTER, INSTANCE, NODE_DASHBOARD, PGBOUNCER, HAPROXY, PATRONI, BACKUP)
