"""The etcd RBAC plan: what it asks a (fake) etcd to do, from scratch and when in place."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent.etcd_auth import EtcdError, User, converge, plan, prefix_end

USERS = [
    User("patroni@pg-test", "pw-test", "/service/pg-test/"),
    User("patroni@pg-meta", "pw-meta", "/service/pg-meta/"),
]


class FakeEtcd:
    """etcd's auth API as far as the plan uses it, keeping state like the real one."""

    def __init__(self) -> None:
        self.enabled = False
        self.users: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[dict[str, str]]] = {}
        self.token: str | None = None
        self.writes: list[str] = []

    def authenticate(self, name: str, password: str) -> str | None:
        user = self.users.get(name)
        return f"token-{name}" if user and user["password"] == password else None

    def call(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        if path == "auth/authenticate":
            if not self.enabled:
                raise EtcdError(path, "etcdserver: authentication is not enabled")
            token = self.authenticate(body["name"], body["password"])
            if token is None:
                raise EtcdError(path, "etcdserver: authentication failed, invalid user ID or password")
            return {"token": token}
        if self.enabled and self.token != "token-root":
            raise EtcdError(path, "etcdserver: user name is empty")
        if path == "auth/user/list":
            return {"users": sorted(self.users)}
        if path == "auth/role/list":
            return {"roles": sorted(self.roles)}
        if path == "auth/role/get":
            return {"perm": self.roles[body["role"]]}
        if path == "auth/user/get":
            return {"roles": self.users[body["name"]]["roles"]}
        self.writes.append(path)
        if path == "auth/user/add":
            self.users[body["name"]] = {"password": body["password"], "roles": []}
        elif path == "auth/user/grant":
            self.users[body["user"]]["roles"].append(body["role"])
        elif path == "auth/user/changepw":
            self.users[body["name"]]["password"] = body["password"]
        elif path == "auth/role/add":
            self.roles[body["name"]] = []
        elif path == "auth/role/grant":
            self.roles[body["name"]].append(body["perm"])
        elif path == "auth/role/revoke":
            self.roles[body["role"]] = [p for p in self.roles[body["role"]] if p["key"] != body["key"]]
        elif path == "auth/enable":
            self.enabled = True
        return {}


def test_prefix_end_covers_exactly_the_prefix():
    assert prefix_end("/service/pg-test/") == "/service/pg-test0"
    assert "/service/pg-test/leader" < prefix_end("/service/pg-test/") <= "/service/pg-test0"


def test_from_scratch_root_then_auth_then_one_role_per_cluster_on_its_prefix_only():
    etcd = FakeEtcd()
    changes = converge(etcd, "root-pw", USERS, check=False)  # type: ignore[arg-type]
    assert changes[:3] == ["add user root", "grant root the root role", "enable authentication"]
    assert etcd.enabled and etcd.users["root"]["roles"] == ["root"]
    perm = etcd.roles["patroni@pg-test"]
    assert perm == [
        {
            "permType": "READWRITE",
            "key": base64.b64encode(b"/service/pg-test/").decode(),
            "range_end": base64.b64encode(b"/service/pg-test0").decode(),
        }
    ]
    assert etcd.users["patroni@pg-test"] == {"password": "pw-test", "roles": ["patroni@pg-test"]}
    assert not any("pw-" in change for change in changes), "a password in the output"
    # In place: nothing to do, and --check agrees.
    etcd.writes.clear()
    assert converge(etcd, "root-pw", USERS, check=True) == []  # type: ignore[arg-type]
    assert converge(etcd, "root-pw", USERS, check=False) == [] and etcd.writes == []  # type: ignore[arg-type]


def test_a_rotated_password_and_a_widened_role_are_put_back():
    etcd = FakeEtcd()
    converge(etcd, "root-pw", USERS, check=False)  # type: ignore[arg-type]
    etcd.roles["patroni@pg-test"].append({"permType": "READWRITE", "key": "Lw==", "range_end": "AA=="})
    rotated = [User("patroni@pg-test", "new", "/service/pg-test/"), USERS[1]]
    planned = [d for d, _, _ in plan(etcd, "root-pw", rotated)]  # type: ignore[arg-type]
    assert planned == ["revoke a permission of role patroni@pg-test", "set the password of user patroni@pg-test"]
    converge(etcd, "root-pw", rotated, check=False)  # type: ignore[arg-type]
    assert etcd.authenticate("patroni@pg-test", "new") and len(etcd.roles["patroni@pg-test"]) == 1


def test_a_wrong_root_password_is_one_clear_error():
    etcd = FakeEtcd()
    converge(etcd, "root-pw", USERS, check=False)  # type: ignore[arg-type]
    with pytest.raises(AgentError, match="root user does not accept etcd_root_password"):
        plan(etcd, "other", USERS)  # type: ignore[arg-type]
