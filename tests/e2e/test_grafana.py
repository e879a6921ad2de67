"""Grafana on the deployed sandbox, both ways the `grafana` state goes.

Without a `grafana` package in the offline repository (Debian ships none), pigsty.infra succeeds,
says so in one line, and installs nothing. With one added by `pigsalt repo add`, pigsty.infra
installs it from the repository (its missing dependency `musl` fetched with it, as the vendor's
.deb needs), writes grafana.ini and the provisioning, starts it, and Nginx serves it as g.pigsty.

The package is a stand-in (tests/e2e/grafana_standin/server.py): Grafana itself cannot be
downloaded here. It reads grafana.ini and the provisioning where Grafana reads them and answers
/api/health, /api/search and /api/datasources with them, so what is checked is pigsalt's side:
the repository, the state, the files, the credentials, the proxy, the reruns.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigsalt import orch
from pigsalt.monitor.panels import DASHBOARDS
from pigsalt.repo import DEFAULT_REPO_DIR, add_packages, remove_packages
from tests.e2e.conftest import Sandbox
from tests.e2e.orch import deploy_base, deploy_cluster, run_orch

pytestmark = pytest.mark.e2e

META = "10.10.10.10"
STANDIN = Path(__file__).parent / "grafana_standin" / "server.py"
UNIT = """\
[Unit]
Description=Grafana stand-in of pigsalt's e2e tests (tests/e2e/grafana_standin)
After=network-online.target

[Service]
User=grafana
Group=grafana
ExecStart=/opt/pigsalt/salt/bin/python /usr/share/grafana/standin.py
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent group grafana >/dev/null || addgroup --system --quiet grafana
    getent passwd grafana >/dev/null || adduser --system --quiet --ingroup grafana --no-create-home \\
        --home /usr/share/grafana grafana
fi
"""


def standin_deb(where: Path) -> Path:
    """The stand-in as a `grafana` package with the vendor's dependencies (adduser, musl)."""
    root = where / "grafana-standin"
    files = {
        "usr/share/grafana/standin.py": STANDIN.read_text(),
        "lib/systemd/system/grafana-server.service": UNIT,
        "etc/grafana/provisioning/datasources/.keep": "",
        "etc/grafana/provisioning/dashboards/.keep": "",
        "DEBIAN/postinst": POSTINST,
        "DEBIAN/control": (
            "Package: grafana\nVersion: 0.0.0~pigsalt.standin-1\nArchitecture: all\n"
            "Maintainer: pigsalt <tests@pigsty>\nDepends: adduser, musl\n"
            "Description: stand-in for Grafana in pigsalt's e2e tests\n"
        ),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "DEBIAN/postinst").chmod(0o755)
    out = where / "grafana_0.0.0~pigsalt.standin-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    return out


def portal(path: str, auth: tuple[str, str] | None = None) -> tuple[int, dict | list]:
    """GET ``path`` from Nginx on meta as g.pigsty, from this host."""
    headers = {"Host": "g.pigsty"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    request = urllib.request.Request(f"http://{META}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, {}


@pytest.fixture(scope="module")
def deployed(sandbox_session: Sandbox) -> Sandbox:
    deploy_cluster(sandbox_session, "pg-meta")
    return sandbox_session


@pytest.fixture
def standin_added(deployed: Sandbox, tmp_path: Path) -> Iterator[Sandbox]:
    """The stand-in added to the repository the sandbox serves; afterwards removed from it and
    purged from meta, and every node's package lists refreshed (so the next tests see no Grafana
    and no change in the repository)."""
    add_packages(DEFAULT_REPO_DIR, [standin_deb(tmp_path)])
    try:
        yield deployed
    finally:
        remove_packages(DEFAULT_REPO_DIR, ["grafana"])
        deployed.run("meta", "systemctl", "disable", "--now", "grafana-server", timeout=60)
        deployed.run("meta", "apt-get", "purge", "-y", "-q", "grafana", timeout=300)
        deployed.run("meta", "rm", "-rf", "/etc/grafana", "/var/lib/grafana")
        deployed.salt("*", "state.sls", "repo", "queue=True", timeout=300)  # every node's lists follow


def _grafana_states(run: orch.OrchRun) -> dict[str, dict]:
    """The grafana states of pigsty.infra's grafana step, by state id, as meta returned them."""
    doc = json.loads(run.raw)
    for data in doc["data"].values():
        for step_id, step in data.items():
            if "pigsty-infra-grafana-state" in step_id:
                return step["changes"]["ret"]["meta"]
    raise AssertionError("pigsty.infra ran no grafana step")


def test_without_a_package_infra_says_so_in_one_line_and_installs_nothing(deployed: Sandbox):
    run = deploy_base(deployed)["pigsty.infra"]  # this session's first run: no Grafana package then
    notes = orch.notes(run)
    assert len(notes) == 1 and notes[0].startswith("meta: Grafana skipped: the offline repository holds no"), notes
    assert "\n" not in notes[0]
    assert not [line for line in run.changed if "grafana" in line], run.changed
    assert deployed.run("meta", "dpkg-query", "-W", "grafana").returncode != 0
    assert portal("/api/health")[0] == 502  # Nginx's proxy has nothing behind it


def test_an_added_package_is_installed_provisioned_and_served_as_g_pigsty(standin_added: Sandbox):
    sandbox = standin_added
    secrets = sandbox.all_secrets()
    password = secrets["infra.grafana_admin_password"]

    run = run_orch(sandbox, "pigsty.infra")
    assert run.ok, "\n".join(run.failed)
    assert orch.notes(run) == []
    assert password not in run.raw, "the administrator's password is in the orchestration's output"
    changed = {sid.split("_|-")[1] for sid, state in _grafana_states(run).items() if state["changes"]}
    assert {"grafana-pkg-installed", "grafana-config-file-managed", "grafana-provisioning-cmd-run"} <= changed

    shown = sandbox.run("meta", "dpkg-query", "-W", "-f", "${Package} ${Version}\n", "grafana", "musl", check=True)
    assert "grafana 0.0.0~pigsalt.standin-1" in shown.stdout and "musl " in shown.stdout
    mode = sandbox.run("meta", "stat", "-c", "%a %U %G", "/etc/grafana/grafana.ini", check=True).stdout.split()
    assert mode == ["640", "root", "grafana"]

    status, health = portal("/api/health")
    assert (status, health.get("database")) == (200, "ok")
    assert portal("/api/search")[0] == 401
    assert portal("/api/search", ("admin", password + "x"))[0] == 401
    status, found = portal("/api/search", ("admin", password))
    assert status == 200
    assert {d["uid"] for d in found} == {d.uid for d in DASHBOARDS}
    status, sources = portal("/api/datasources", ("admin", password))
    assert [(s["uid"], s["url"]) for s in sources] == [("pigsalt-prometheus", "http://127.0.0.1:9090")]

    again = run_orch(sandbox, "pigsty.infra")
    assert again.ok, "\n".join(again.failed)
    assert again.changed == [], f"pigsty.infra changed on its second run: {again.changed}"
