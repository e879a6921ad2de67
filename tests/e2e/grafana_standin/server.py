"""A stand-in for Grafana's server, packaged as `grafana` by tests/e2e/test_grafana.py.

Grafana is in no Debian archive and cannot be downloaded on the machines pigsalt is tested on, so
the e2e tier checks pigsalt's side of it with this instead: the package comes from the offline
repository (`pigsalt repo add`), and this server reads what pigsalt wrote where Grafana reads it:
grafana.ini (the ini syntax Grafana's go-ini accepts, the triple-quoted password included) and the
provisioning directory (datasource and dashboard provider YAML, the provider's JSON files). It
answers the few API calls the test makes, as Grafana does:

- GET /api/health: {"database": "ok", ...}, no login;
- GET /api/search: the provisioned dashboards (uid, title), basic auth with the administrator;
- GET /api/datasources: the provisioned datasources, basic auth.

It is not Grafana: panels are not rendered and queries are not run (the e2e tier runs every panel's
query against Prometheus itself, tests/e2e/test_monitoring.py).
"""

from __future__ import annotations

import base64
import configparser
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

INI = Path("/etc/grafana/grafana.ini")


def _config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    parser.read_string(INI.read_text())
    return parser


def _unquote(value: str) -> str:
    match = re.fullmatch(r'"""(.*)"""', value.strip())
    return match.group(1) if match else value.strip()


def _provisioned(kind: str) -> list[dict]:
    root = Path(_config().get("paths", "provisioning", fallback="/etc/grafana/provisioning")) / kind
    found = []
    for path in sorted(root.glob("*.yml")) + sorted(root.glob("*.yaml")):
        found.append(yaml.safe_load(path.read_text()))
    return found


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        config = _config()
        user = config.get("security", "admin_user")
        password = _unquote(config.get("security", "admin_password"))
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def do_GET(self) -> None:
        if self.path == "/api/health":
            return self._send(200, {"database": "ok", "version": "stand-in"})
        if not self._authorized():
            return self._send(401, {"message": "invalid username or password"})
        if self.path == "/api/datasources":
            return self._send(200, [ds for doc in _provisioned("datasources") for ds in doc.get("datasources", [])])
        if self.path == "/api/search":
            dashboards = []
            for doc in _provisioned("dashboards"):
                for provider in doc.get("providers", []):
                    for path in sorted(Path(provider["options"]["path"]).glob("*.json")):
                        model = json.loads(path.read_text())
                        dashboards.append({"uid": model["uid"], "title": model["title"], "folder": provider["folder"]})
            return self._send(200, dashboards)
        return self._send(404, {"message": "not found"})

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    config = _config()
    address = (config.get("server", "http_addr"), config.getint("server", "http_port"))
    ThreadingHTTPServer(address, Handler).serve_forever()


if __name__ == "__main__":
    main()
