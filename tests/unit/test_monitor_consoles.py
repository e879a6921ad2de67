"""The console pages of pigsalt.monitor.consoles, rendered by the host's real Prometheus: every
page and every static file it loads answers 200 without a template error, shows its queries with
the parameters substituted, and shows a message instead of its panels when one is missing.

Prometheus scrapes only itself, under the jobs ``pgsql`` and ``node`` too (with a member's
labels), and records a few fake Postgres and Patroni series from that, so the pages' loops and
value formats run over real data. ``PIGSALT_TEST_PROMETHEUS`` names another binary (trixie's
2.53, say) to check the pages against.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pigsalt.monitor import consoles
from pigsalt.monitor.panels import DASHBOARDS, RATE_INTERVAL, Dashboard

PROMETHEUS = Path(os.environ.get("PIGSALT_TEST_PROMETHEUS", "/usr/bin/prometheus"))
CLS, INS = "pg-test", "pg-test-1"
PARAMS = urllib.parse.urlencode({"cls": CLS, "ins": INS})
WINDOW = consoles.rate_window("10s")
TEMPLATE_ERRORS = ("error executing template", "template:", "<no value>", "error parsing")
pytestmark = pytest.mark.skipif(
    not PROMETHEUS.exists(), reason=f"{PROMETHEUS} not installed: `make deps` installs Debian's prometheus package"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _config(port: int) -> dict[str, object]:
    member = {"cls": CLS, "ins": INS, "ip": "127.0.0.1"}
    itself = [f"127.0.0.1:{port}"]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["fake.yml"],
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": itself}]},
            {"job_name": "pgsql", "static_configs": [{"targets": itself, "labels": {**member, "role": "primary"}}]},
            {"job_name": "node", "static_configs": [{"targets": itself, "labels": member}]},
        ],
    }


FAKE_RULES = {
    "groups": [
        {
            "name": "fake",
            "rules": [
                {"record": "pg_up", "expr": 'up{job="pgsql"}'},
                {"record": "patroni_primary", "expr": 'up{job="pgsql"}'},
                {"record": "pg:ins:conn_usage", "expr": 'up{job="pgsql"} * 0.25'},
            ],
        }
    ]
}


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    """The base URL of a Prometheus serving freshly generated pages, once it has the fake series."""
    with tempfile.TemporaryDirectory(prefix="pigsalt-consoles-") as tmp:
        root = Path(tmp)
        consoles.write(root)
        port = _free_port()
        (root / "prometheus.yml").write_text(yaml.safe_dump(_config(port)))
        (root / "fake.yml").write_text(yaml.safe_dump(FAKE_RULES))
        process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.console.templates={root / 'consoles'}",
                f"--web.console.libraries={root / 'console_libraries'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(root / "prometheus.log").open("w"),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                # Every job scraped once (the pages link nodes from the node job's series) and the
                # rules evaluated once: under load the first scrapes do not come in one second.
                try:
                    _, scraped = _get(base, "/api/v1/query?query=" + urllib.parse.quote("count(up == 1)"))
                    _, ruled = _get(base, "/api/v1/query?query=" + urllib.parse.quote('pg_up{cls="pg-test"}'))
                    counted = json.loads(scraped)["data"]["result"]
                    if counted and counted[0]["value"][1] == "3" and json.loads(ruled)["data"]["result"]:
                        break
                except (OSError, ValueError, KeyError, IndexError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("Prometheus did not come up:\n" + (root / "prometheus.log").read_text()[-3000:])
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _substituted(expr: str) -> str:
    return expr.replace(RATE_INTERVAL, WINDOW).replace("$cls", CLS).replace("$ins", INS)


def _assert_rendered(status: int, body: str) -> None:
    assert status == 200, body[:2000]
    for error in TEMPLATE_ERRORS:
        assert error not in body, body[:2000]


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.uid for d in DASHBOARDS])
def test_page_renders_its_queries(prometheus: str, dashboard: Dashboard):
    status, body = _get(prometheus, f"/consoles/{dashboard.uid}.html?{PARAMS}")
    _assert_rendered(status, body)
    shown = html.unescape(body)
    for panel in dashboard.panels:
        assert f"<h3>{panel.title}</h3>" in shown
        for query in panel.queries:
            expr = _substituted(query.expr)
            if panel.kind == "timeseries":
                assert json.dumps(expr) in body, expr  # the graph's JavaScript string
            else:
                assert f'title="{expr}"' in shown, expr  # the table's title attribute
    assert "This page needs" not in body


@pytest.mark.parametrize("dashboard", [d for d in DASHBOARDS if d.variables], ids=lambda d: d.uid)
def test_page_without_its_parameters_says_what_it_needs(prometheus: str, dashboard: Dashboard):
    status, body = _get(prometheus, f"/consoles/{dashboard.uid}.html")
    _assert_rendered(status, body)
    assert "This page needs" in body
    assert "PromConsole.Graph" not in body


@pytest.mark.parametrize("dashboard", [d for d in DASHBOARDS if d.variables], ids=lambda d: d.uid)
def test_quotes_in_a_parameter_stay_inside_the_matcher(prometheus: str, dashboard: Dashboard):
    hostile = 'x"} or up{job=~".+'
    status, body = _get(
        prometheus, f"/consoles/{dashboard.uid}.html?" + urllib.parse.urlencode({"cls": hostile, "ins": hostile})
    )
    _assert_rendered(status, body)
    # The value is one label value: every query finds nothing, nothing leaks from other targets.
    assert "no data" in body or "PromConsole.Graph" in body
    assert INS not in re.sub(r"<nav.*?</nav>", "", body, flags=re.S)


def test_values_links_and_mappings(prometheus: str):
    _, instance = _get(prometheus, f"/consoles/pigsalt-instance.html?{PARAMS}")
    assert '<span style="color: blue">primary</span>' in instance
    assert '<span style="color: green">up</span>' in instance
    assert "<td>25%</td>" in instance
    _, cluster = _get(prometheus, f"/consoles/pigsalt-cluster.html?cls={CLS}")
    assert f'href="/consoles/pigsalt-instance.html?cls={CLS}&amp;ins={INS}"' in cluster
    assert f'(node <a href="/consoles/pigsalt-node.html?ins={INS}">{INS}</a>)' in cluster
    assert f'href="/consoles/pigsalt-patroni.html?cls={CLS}"' in cluster


def test_index_lists_clusters_and_nodes(prometheus: str):
    status, body = _get(prometheus, "/consoles/index.html")
    _assert_rendered(status, body)
    assert f"<td>{CLS}</td>\n<td>1 of 1</td>" in body
    assert f'href="/consoles/pigsalt-cluster.html?cls={CLS}"' in body
    assert f'href="/consoles/pigsalt-node.html?ins={INS}"' in body
    assert "PromConsole.Graph" not in body


def test_every_static_file_the_pages_load_is_served(prometheus: str):
    library = consoles.library(WINDOW)
    paths = re.findall(r'(?:src|href)="\{\{ pathPrefix \}\}(/classic/static/[^"]+)"', library)
    assert len(paths) == 10
    for path in paths:
        status, _ = _get(prometheus, path)
        assert status == 200, path


def test_cli_reports_changes_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert consoles.main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    files = sorted(str(p) for p in tmp_path.rglob("*") if p.is_file())
    assert sorted(printed) == files
    assert sorted(Path(f).relative_to(tmp_path).as_posix() for f in files) == sorted(
        ["console_libraries/pigsalt.lib", "consoles/index.html", *(f"consoles/{d.uid}.html" for d in DASHBOARDS)]
    )
    assert all((Path(f).stat().st_mode & 0o777) == 0o644 for f in files)

    assert consoles.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""

    stale = tmp_path / "consoles" / "pigsalt-retired.html"
    stale.write_text("old")
    theirs = tmp_path / "consoles" / "node.html"
    theirs.write_text("someone else's page")
    assert consoles.main([str(tmp_path), "--scrape-interval", "30s"]) == 0
    changed = capsys.readouterr().out.splitlines()
    # A longer interval widens the rate window of every page that rates something.
    assert str(stale) in changed and str(tmp_path / "consoles" / "pigsalt-node.html") in changed
    assert not stale.exists() and theirs.exists()


def test_rate_window_is_four_scrapes_and_a_minute_at_least():
    assert [consoles.rate_window(i) for i in ("10s", "15s", "30s", "1m")] == ["60s", "60s", "120s", "240s"]


def test_query_translation():
    assert consoles.go_query('up{cls="$cls"}[$__rate_interval]', "60s") == '(print "up{cls=\\"" $cls "\\"}[60s]")'
    assert consoles.js_query('up{cls="$cls"}', "60s") == '"up{cls=\\"{{ $cls }}\\"}"'


def test_cli_stateful_ends_with_the_line_salt_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert consoles.main([str(tmp_path), "--stateful"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("changed=yes comment='") and last.endswith(" console files written or removed'")
    assert consoles.main([str(tmp_path), "--stateful"]) == 0
    assert capsys.readouterr().out == "changed=no comment='console files up to date'\n"


def test_cli_dry_run_says_what_would_change_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Salt's test mode runs the state's test_name (the same command with --dry-run)."""
    assert consoles.main([str(tmp_path), "--stateful", "--dry-run"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("changed=yes comment='") and last.endswith(" console files would be written or removed'")
    assert not any(tmp_path.rglob("*"))
    assert consoles.main([str(tmp_path)]) == 0
    stale = tmp_path / "consoles" / "pigsalt-retired.html"
    stale.write_text("old")
    capsys.readouterr()
    assert consoles.main([str(tmp_path), "--stateful", "--dry-run"]) == 0
    assert capsys.readouterr().out == f"{stale}\nchanged=yes comment='1 console files would be written or removed'\n"
    assert stale.exists()
    stale.unlink()
    assert consoles.main([str(tmp_path), "--stateful", "--dry-run"]) == 0
    assert capsys.readouterr().out == "changed=no comment='console files up to date'\n"
