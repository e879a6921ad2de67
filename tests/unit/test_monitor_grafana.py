"""The Grafana provisioning files of pigsalt.monitor.grafana: what Grafana needs of each dashboard,
a layout without overlaps, variables over real labels, and the CLI's report of changes."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pigsalt.monitor import grafana
from pigsalt.monitor.panels import DASHBOARDS, VARIABLE_JOBS, Dashboard, Panel, Query, Row, variables_in

TARGET_LABELS = {"job", "cls", "ins", "ip", "instance"}
_LABEL_VALUES = re.compile(r'label_values\(up\{job="(\w+)"((?:, \w+="\$\w+")*)\}, (\w+)\)')


def _json() -> list[dict[str, Any]]:
    return [grafana.dashboard_json(d) for d in DASHBOARDS]


def _content(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in model["panels"] if p["type"] != "row"]


@pytest.fixture
def provisioning(tmp_path: Path) -> Path:
    grafana.write(tmp_path)
    return tmp_path


@pytest.mark.parametrize("model", _json(), ids=[d.uid for d in DASHBOARDS])
def test_dashboard_has_what_provisioning_needs(model: dict[str, Any]):
    assert {"uid", "title", "schemaVersion", "panels", "templating", "time"} <= model.keys()
    assert model["schemaVersion"] == grafana.SCHEMA_VERSION
    assert "id" not in model, "provisioned dashboards get their id from Grafana"
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))


def test_uids_and_titles_are_unique():
    models = _json()
    assert len({m["uid"] for m in models}) == len(models)
    assert len({m["title"] for m in models}) == len(models)
    assert all(len(m["uid"]) <= 40 for m in models), "Grafana refuses uids over 40 characters"


@pytest.mark.parametrize("model", _json(), ids=[d.uid for d in DASHBOARDS])
def test_every_panel_queries_the_pigsalt_datasource(model: dict[str, Any]):
    for panel in _content(model):
        assert panel["type"] in {"timeseries", "stat", "table"}
        assert panel["datasource"] == {"type": "prometheus", "uid": grafana.DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} == panel["gridPos"].keys()
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == grafana.DATASOURCE_UID
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


@pytest.mark.parametrize("model", _json(), ids=[d.uid for d in DASHBOARDS])
def test_panels_do_not_overlap(model: dict[str, Any]):
    cells = []
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells.append(
            (
                panel["title"],
                {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])},
            )
        )
    for (a, cells_a), (b, cells_b) in itertools.combinations(cells, 2):
        assert not cells_a & cells_b, f"{a} overlaps {b}"


def test_layout_wraps_a_row_at_24_columns():
    wide = Panel("wide", "short", (Query("up", "{{ins}}"),), width=16)
    model = grafana.dashboard_json(Dashboard("t", "t", "t", (), (Row("r", (wide, wide)), Row("s", (wide,)))))
    assert [p["gridPos"] for p in model["panels"]] == [
        {"h": 1, "w": 24, "x": 0, "y": 0},
        {"h": 8, "w": 16, "x": 0, "y": 1},
        {"h": 8, "w": 16, "x": 0, "y": 9},
        {"h": 1, "w": 24, "x": 0, "y": 17},
        {"h": 8, "w": 16, "x": 0, "y": 18},
    ]


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.uid for d in DASHBOARDS])
def test_variables_list_real_labels_and_cover_the_queries(dashboard: Dashboard):
    variables = grafana.dashboard_json(dashboard)["templating"]["list"]
    names = [v["name"] for v in variables]
    for index, variable in enumerate(variables):
        assert variable["type"] == "query"
        assert variable["datasource"]["uid"] == grafana.DATASOURCE_UID
        match = _LABEL_VALUES.fullmatch(variable["query"])
        assert match, variable["query"]
        job, narrowing, label = match.groups()
        assert job in VARIABLE_JOBS
        assert label == variable["name"] and label in TARGET_LABELS
        # Narrowed by the variables before it, and by those only.
        assert re.findall(r'(\w+)="\$(\w+)"', narrowing) == [(n, n) for n in names[:index]]
    used = set().union(*(variables_in(q.expr) for p in dashboard.panels for q in p.queries))
    assert used == set(names), "every variable is used, every used one is declared"


def test_mappings_and_instant_queries_for_current_values():
    model = grafana.dashboard_json(next(d for d in DASHBOARDS if d.uid == "pigsalt-instance"))
    role = next(p for p in _content(model) if p["title"] == "Role")
    assert role["type"] == "stat"
    assert role["fieldConfig"]["defaults"]["mappings"] == [
        {
            "type": "value",
            "options": {
                "1": {"text": "primary", "color": "blue", "index": 0},
                "0": {"text": "replica", "color": "green", "index": 1},
            },
        }
    ]
    assert [(t["instant"], t["range"]) for t in role["targets"]] == [(True, False)]
    graph = next(p for p in _content(model) if p["type"] == "timeseries")
    assert all(t["range"] and not t["instant"] for t in graph["targets"])


def test_provisioning_files(provisioning: Path):
    datasources = yaml.safe_load((provisioning / "datasources" / "pigsalt.yml").read_text())
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert source["uid"] == grafana.DATASOURCE_UID
    assert source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"
    assert source["jsonData"] == {"timeInterval": "10s"}
    providers = yaml.safe_load((provisioning / "dashboards" / "pigsalt.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    json_dir = Path(provider["options"]["path"])
    assert json_dir == provisioning.resolve() / "dashboards" / "pigsalt"
    written = sorted(p.name for p in json_dir.glob("*.json"))
    assert written == sorted(f"{d.uid}.json" for d in DASHBOARDS)
    for path in json_dir.glob("*.json"):
        assert json.loads(path.read_text())["uid"] == path.stem


def test_cli_reports_changes_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert grafana.main([str(tmp_path), "--scrape-interval", "15s"]) == 0
    printed = capsys.readouterr().out.splitlines()
    files = sorted(str(p) for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(printed) == files
    assert len(files) == len(DASHBOARDS) + 2
    assert all((Path(f).stat().st_mode & 0o777) == 0o644 for f in files)
    assert "timeInterval: 15s" in (tmp_path / "datasources" / "pigsalt.yml").read_text()

    assert grafana.main([str(tmp_path), "--scrape-interval", "15s"]) == 0
    assert capsys.readouterr().out == ""

    # A dashboard that is gone loses its file; the interval change rewrites the datasource.
    stale = tmp_path / "dashboards" / "pigsalt" / "pigsalt-retired.json"
    stale.write_text("{}")
    assert grafana.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "datasources" / "pigsalt.yml"), str(stale)]
    assert not stale.exists()


def test_cli_refuses_a_bad_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert grafana.main([str(tmp_path), "--scrape-interval", "soon"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "'soon' is not a duration" in captured.err
    assert not any(tmp_path.iterdir())


def test_cli_stateful_and_dry_run_as_salt_reads_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """grafana.config runs ``--stateful`` (``--dry-run`` under test=True): a second run, and a
    dry run after it, report no change; a dry run before touches nothing."""
    assert grafana.main([str(tmp_path), "--stateful", "--dry-run"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"changed=yes comment='{len(DASHBOARDS) + 2} Grafana provisioning files would be written or removed'"
    assert not any(tmp_path.iterdir())
    assert grafana.main([str(tmp_path), "--stateful"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("changed=yes comment='")
    for extra in ([], ["--dry-run"]):
        assert grafana.main([str(tmp_path), "--stateful", *extra]) == 0
        assert capsys.readouterr().out == "changed=no comment='Grafana provisioning files up to date'\n"
