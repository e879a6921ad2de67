"""etcd's RBAC as the inventory describes it: the root user, and one user and role per cluster
whose Patroni may read and write only that cluster's keys.

Run by the etcd formula on a DCS member, as root::

    python -m pigsalt.agent.etcd_auth /etc/etcd/pigsalt-auth.json [--check]
    python -m pigsalt.agent.etcd_auth --health https://10.10.10.10:2379 --cacert CA --cert CRT --key KEY

``--health`` asks the member's ``/health`` (with authentication on, ``etcdctl endpoint health``
needs a user; ``/health`` does not) and exits 0 when it answers ``"health": "true"``.

The file (root, 0600) holds ``{"endpoint", "cacert", "cert", "key", "root_password", "users":
[{"name", "password", "prefix"}]}``. The script talks to etcd's JSON gateway over TLS with the
member's client certificate, compares, and applies what differs: it creates root and turns
authentication on once; adds each cluster's user and role, grants the role read-write on the
cluster's key prefix only (and nothing else), and sets a password that no longer authenticates.
``--check`` applies nothing and exits 1 when something would change. The last line of output is
Salt's stateful ``changed=… comment=…``; no password is ever printed.
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pigsalt.agent import AgentError

TIMEOUT = 10
READWRITE = "READWRITE"


def prefix_end(prefix: str) -> str:
    """The range end that makes ``[prefix, end)`` exactly the keys starting with ``prefix``."""
    raw = bytearray(prefix.encode("utf-8"))
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        raise AgentError(f"prefix {prefix!r} has no range end")
    raw[-1] += 1
    return raw.decode("utf-8", errors="surrogateescape")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", errors="surrogateescape")).decode("ascii")


@dataclass(frozen=True)
class User:
    name: str
    password: str
    prefix: str

    @property
    def wanted_permission(self) -> dict[str, str]:
        return {"permType": READWRITE, "key": _b64(self.prefix), "range_end": _b64(prefix_end(self.prefix))}


class Etcd:
    """etcd's v3 JSON gateway at ``endpoint``, over TLS with a client certificate."""

    def __init__(self, endpoint: str, cacert: str, cert: str, key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.context = ssl.create_default_context(cafile=cacert)
        self.context.load_cert_chain(cert, key)
        self.token: str | None = None

    def call(self, path: str, body: Mapping[str, Any], token: str | None = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.endpoint}/v3/{path}", data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        if token or self.token:
            request.add_header("Authorization", token or self.token or "")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self.context) as answer:
                return dict(json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            try:
                message = json.loads(detail).get("message") or detail
            except json.JSONDecodeError:
                message = detail
            raise EtcdError(path, str(message).strip()) from None
        except (urllib.error.URLError, OSError) as err:
            raise AgentError(f"etcd {self.endpoint}: {getattr(err, 'reason', err)}") from None

    def authenticate(self, name: str, password: str) -> str | None:
        """A token for ``name``, or None when the password does not authenticate."""
        try:
            return str(self.call("auth/authenticate", {"name": name, "password": password})["token"])
        except EtcdError as err:
            if "authentication failed" in err.message or "invalid" in err.message:
                return None
            raise


class EtcdError(AgentError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"etcd {path}: {message}")
        self.message = message


def auth_enabled(etcd: Etcd, root_password: str) -> bool:
    """Whether authentication is on, from a root login (etcd 3.4 and 3.5 alike: ``auth/status``
    itself needs a user once it is on); when it is, root's token is kept for what follows."""
    try:
        answer = etcd.call("auth/authenticate", {"name": "root", "password": root_password})
    except EtcdError as err:
        if "not enabled" in err.message:
            return False
        if "authentication failed" in err.message or "invalid" in err.message:
            raise AgentError("etcd's root user does not accept etcd_root_password: set the one it has") from None
        raise
    etcd.token = str(answer["token"])
    return True


def _names(answer: Mapping[str, Any], key: str) -> set[str]:
    return {str(n) for n in answer.get(key) or []}


def plan(etcd: Etcd, root_password: str, users: Sequence[User]) -> list[tuple[str, str, dict[str, Any]]]:
    """What differs, as ``(description, path, body)`` calls to make in order (root's token set)."""
    calls: list[tuple[str, str, dict[str, Any]]] = []
    enabled = auth_enabled(etcd, root_password)
    if not enabled:
        existing = _names(etcd.call("auth/user/list", {}), "users")
        if "root" not in existing:
            calls.append(("add user root", "auth/user/add", {"name": "root", "password": root_password}))
        calls.append(("grant root the root role", "auth/user/grant", {"user": "root", "role": "root"}))
        calls.append(("enable authentication", "auth/enable", {}))
    current_users = _names(etcd.call("auth/user/list", {}), "users")
    current_roles = _names(etcd.call("auth/role/list", {}), "roles")
    for user in users:
        if user.name not in current_roles:
            calls.append((f"add role {user.name}", "auth/role/add", {"name": user.name}))
            perms: list[dict[str, Any]] = []
        else:
            perms = list(etcd.call("auth/role/get", {"role": user.name}).get("perm") or [])
        wanted = user.wanted_permission
        # JSON omits proto3 defaults: a READ permission comes without its permType.
        found = [
            {"permType": p.get("permType", "READ"), "key": p.get("key"), "range_end": p.get("range_end")} for p in perms
        ]
        for perm in found:
            if perm != wanted:
                revoke = {"role": user.name, "key": perm["key"], "range_end": perm["range_end"]}
                calls.append((f"revoke a permission of role {user.name}", "auth/role/revoke", revoke))
        if wanted not in found:
            grant = {"name": user.name, "perm": wanted}
            calls.append((f"grant role {user.name} read-write on {user.prefix}", "auth/role/grant", grant))
        if user.name not in current_users:
            body = {"name": user.name, "password": user.password}
            calls.append((f"add user {user.name}", "auth/user/add", body))
            roles: set[str] = set()
        else:
            roles = set(etcd.call("auth/user/get", {"name": user.name}).get("roles") or [])
            if enabled and etcd.authenticate(user.name, user.password) is None:
                body = {"name": user.name, "password": user.password}
                calls.append((f"set the password of user {user.name}", "auth/user/changepw", body))
        if user.name not in roles:
            calls.append(
                (f"grant user {user.name} role {user.name}", "auth/user/grant", {"user": user.name, "role": user.name})
            )
    return calls


def converge(etcd: Etcd, root_password: str, users: Sequence[User], check: bool) -> list[str]:
    """Apply the plan (unless ``check``); the descriptions of what changed or would change."""
    calls = plan(etcd, root_password, users)
    if not check:
        for _, path, body in calls:
            etcd.call(path, body)
            if path == "auth/enable":
                etcd.token = etcd.authenticate("root", root_password)
    return [description for description, _, _ in calls]


def load(path: Path) -> tuple[Etcd, str, list[User]]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        etcd = Etcd(config["endpoint"], config["cacert"], config["cert"], config["key"])
        users = [User(u["name"], u["password"], u["prefix"]) for u in config["users"]]
        return etcd, str(config["root_password"]), users
    except (OSError, ValueError, KeyError, TypeError, ssl.SSLError) as err:
        raise AgentError(f"{path}: {err}") from None


def healthy(url: str, cacert: str, cert: str, key: str) -> str | None:
    """None when the member at ``url`` reports itself healthy; else what it said."""
    context = ssl.create_default_context(cafile=cacert)
    context.load_cert_chain(cert, key)
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=TIMEOUT, context=context) as answer:
            body = answer.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as err:
        return f"{url}: {getattr(err, 'reason', err)}"
    try:
        if json.loads(body).get("health") == "true":
            return None
    except (json.JSONDecodeError, AttributeError):
        pass
    return f"{url}/health: {body.strip()[:200]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pigsalt.agent.etcd_auth", description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, nargs="?")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    parser.add_argument("--health", metavar="URL", help="only check the member at URL (its /health)")
    parser.add_argument("--cacert")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    if args.health:
        if not (args.cacert and args.cert and args.key):
            parser.error("--health needs --cacert, --cert and --key")
        problem = healthy(args.health, args.cacert, args.cert, args.key)
        print(problem or f"{args.health} is healthy")
        return 1 if problem else 0
    if args.config is None:
        parser.error("the configuration file is required")
    try:
        etcd, root_password, users = load(args.config)
        changes = converge(etcd, root_password, users, args.check)
    except AgentError as err:
        print(f"changed=no comment={shlex.quote(str(err))}")
        return 2
    if args.check:
        print(f"changed=no comment={shlex.quote('; '.join(changes) or 'etcd RBAC up to date')}")
        return 1 if changes else 0
    comment = "; ".join(changes) or "etcd RBAC up to date"
    print(f"changed={'yes' if changes else 'no'} comment={shlex.quote(comment)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
