"""The dashboards as Grafana provisioning files, written under Grafana's provisioning directory::

    /opt/pigsalt/salt/bin/python -m pigsalt.monitor.grafana /etc/grafana/provisioning --scrape-interval 10s

writes ``datasources/pigsalt.yml`` (Prometheus on this node, with the uid every panel names),
``dashboards/pigsalt.yml`` (a file provider) and the provider's directory,
``dashboards/pigsalt/<uid>.json``, one dashboard each. Grafana reads only the ``.yml`` files of
``dashboards/`` as providers, so the JSON can sit beneath it. Each changed file's path is printed
on its own line, nothing when all are already as generated; ``--stateful`` ends with the line a
Salt ``cmd.run`` reads, ``--dry-run`` writes nothing. JSON files of the directory that no
dashboard produces any more are removed (and printed): the directory is pigsalt's alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pigsalt.monitor import generated
from pigsalt.monitor.panels import DASHBOARDS, Dashboard, Panel, Variable, seconds

__all__ = [
    "DATASOURCE_UID",
    "PROMETHEUS_URL",
    "SCHEMA_VERSION",
    "dashboard_json",
    "datasource_yaml",
    "files",
    "main",
    "provider_yaml",
    "variable_query",
    "write",
]

DATASOURCE_UID = "pigsalt-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
PROMETHEUS_URL = "http://127.0.0.1:9090"
# Grafana 10.4 and 11 write 39; older ones migrate what they do not know, newer ones upgrade it.
SCHEMA_VERSION = 39
JSON_DIR = "dashboards/pigsalt"
_COLUMNS = 24


def variable_query(variable: Variable, before: Sequence[Variable]) -> str:
    """``label_values`` of the variable's job, narrowed by the variables chosen before it."""
    matchers = [f'job="{variable.job}"', *(f'{v.name}="${v.name}"' for v in before)]
    return f"label_values(up{{{', '.join(matchers)}}}, {variable.name})"


def _variables(dashboard: Dashboard) -> list[dict[str, Any]]:
    return [
        {
            "name": variable.name,
            "label": variable.label,
            "type": "query",
            "datasource": DATASOURCE,
            "query": variable_query(variable, dashboard.variables[:index]),
            "definition": variable_query(variable, dashboard.variables[:index]),
            "refresh": 2,  # on each time range change: members come and go
            "sort": 1,
            "multi": False,
            "includeAll": False,
            "current": {},
            "options": [],
            "hide": 0,
        }
        for index, variable in enumerate(dashboard.variables)
    ]


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
    }
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if panel.mappings:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {
                    str(m.value): {"text": m.text, "color": m.color, "index": i} for i, m in enumerate(panel.mappings)
                },
            }
        ]
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name" if any(q.legend_labels for q in panel.queries) else "value",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    return {"showHeader": True, "cellHeight": "sm"}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    current = panel.kind != "timeseries"
    result: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
                # Stats and tables show the value now; a range would sum or repeat it.
                "instant": current,
                "range": not current,
                **({"format": "table"} if panel.kind == "table" else {}),
            }
            for index, query in enumerate(panel.queries)
        ],
    }
    if panel.kind == "table":
        # One line per series: its labels, its value; the time column says nothing.
        result["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    return result


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model: each row a row panel, its panels left to right,
    wrapping at 24 columns."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dashboard.rows:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": _COLUMNS, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = line_height = 0
        for panel in row.panels:
            if x + panel.width > _COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["pigsalt"],
        "editable": False,
        "graphTooltip": 1,  # a shared crosshair
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "templating": {"list": _variables(dashboard)},
        "annotations": {"list": []},
        # Every pigsalt dashboard a click away, keeping the chosen cluster and instance.
        "links": [
            {
                "type": "dashboards",
                "tags": ["pigsalt"],
                "title": "pigsalt",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }


def datasource_yaml(scrape_interval: str) -> str:
    """Prometheus on this node. ``timeInterval`` (the scrape interval) makes ``$__rate_interval``
    at least four scrapes wide."""
    return (
        "# Generated by pigsalt.monitor.grafana: edit the generator, not this file.\n"
        "apiVersion: 1\n"
        "datasources:\n"
        "  - name: Prometheus\n"
        "    type: prometheus\n"
        f"    uid: {DATASOURCE_UID}\n"
        "    access: proxy\n"
        f"    url: {PROMETHEUS_URL}\n"
        "    isDefault: true\n"
        "    editable: false\n"
        "    jsonData:\n"
        f"      timeInterval: {scrape_interval}\n"
    )


def provider_yaml(json_dir: Path) -> str:
    """A file provider for ``json_dir``; dashboards cannot be deleted or saved from the UI, since
    the next run would bring them back as generated."""
    return (
        "# Generated by pigsalt.monitor.grafana: edit the generator, not this file.\n"
        "apiVersion: 1\n"
        "providers:\n"
        "  - name: pigsalt\n"
        "    orgId: 1\n"
        "    folder: pigsalt\n"
        "    type: file\n"
        "    disableDeletion: true\n"
        "    allowUiUpdates: false\n"
        "    updateIntervalSeconds: 30\n"
        "    options:\n"
        f"      path: {json.dumps(str(json_dir))}\n"
    )


def files(directory: Path, scrape_interval: str = "10s") -> dict[Path, str]:
    """Every provisioning file under ``directory`` (absolute) with its text; the dashboards' JSON
    are the files of ``directory / JSON_DIR``."""
    seconds(scrape_interval)  # a duration, or ValueError
    json_dir = directory / JSON_DIR
    texts = {
        directory / "datasources" / "pigsalt.yml": datasource_yaml(scrape_interval),
        directory / "dashboards" / "pigsalt.yml": provider_yaml(json_dir),
    }
    for dashboard in DASHBOARDS:
        texts[json_dir / f"{dashboard.uid}.json"] = json.dumps(dashboard_json(dashboard), indent=2) + "\n"
    return texts


def write(directory: Path, scrape_interval: str = "10s", dry_run: bool = False) -> list[Path]:
    """Write the provisioning files under ``directory``; the paths written or removed (``dry_run``:
    that would be, touching nothing)."""
    directory = directory.resolve()
    texts = files(directory, scrape_interval)
    return generated.sync(texts, (directory / JSON_DIR).glob("*.json"), dry_run)


def main(argv: Sequence[str] | None = None) -> int:
    return generated.main(
        argv,
        "pigsalt.monitor.grafana",
        "Write pigsalt's Grafana datasource, dashboard provider and dashboards; print what changed.",
        "Grafana's provisioning directory",
        "Grafana provisioning files",
        write,
    )


if __name__ == "__main__":
    sys.exit(main())
