"""Every attribute of every user and database in the inventory reaches the state that applies it.

Renders every formula SLS (Salt's own renderer) for every node of every example inventory (one
of them is the sandbox's pigsty.yml, pigsalt/data/sandbox.yml) and of an inventory whose user
and database set every attribute the schema has; then, for each user and database of the node's
cluster, looks for each attribute in the rendered state's arguments: ``pigsalt_pg.role_present``
and ``database_present``, and Pgbouncer's auth users and databases file. An attribute that
reaches nothing fails the test (the SLS once filtered ``expire_in`` away in Jinja, silently),
and so does a schema attribute that this file does not place.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from pigsalt.agent import roles
from pigsalt.inventory import params
from pigsalt.inventory.model import open_inventory
from pigsalt.pillar import secrets as secret_store
from pigsalt.pillar.build import node_pillar
from tests.conftest import EXAMPLE_NAMES, EXAMPLES, FIXED_SECRETS, ROOT, copy_example
from tests.functional.conftest import project_sls

# Every other attribute is an argument of role_present or database_present, except `pgbouncer`
# (a user: Pgbouncer's auth users; a database: its line in Pgbouncer's databases file) and a
# database's `pool_mode` (that line's pool_mode). Accepted, documented as not implemented
# (docs/pillar.md): Pgbouncer's per-user settings, and the upstream keys the schema knows
# without implementing them (its `known`).
USER_NOT_IMPLEMENTED = {"pool_mode", "pool_connlimit"}

EVERY_USER = {
    "name": "every_attr",
    "password": "Every.Pass",
    "login": False,
    "superuser": True,
    "createdb": True,
    "createrole": True,
    "inherit": False,
    "replication": True,
    "bypassrls": True,
    "pgbouncer": True,
    "pool_mode": "session",
    "pool_connlimit": 7,
    "connlimit": 9,
    "expire_in": 30,
    "expire_at": "2031-02-03",
    "comment": "has everything",
    "roles": ["dbrole_readwrite", "dbrole_admin"],
    "parameters": {"search_path": "app, public", "work_mem": "8MB"},
}
EVERY_DATABASE = {
    "name": "every_db",
    "owner": "every_attr",
    "template": "template0",
    "encoding": "LATIN1",
    "locale": "C",
    "lc_collate": "C",
    "lc_ctype": "C",
    "tablespace": "pg_default",
    "allowconn": False,
    "revokeconn": True,
    "connlimit": 11,
    "pgbouncer": True,
    "pool_mode": "statement",
    "comment": "has everything",
    "schemas": ["app"],
    "extensions": ["pg_trgm", {"name": "pgcrypto", "schema": "app"}],
    "parameters": {"work_mem": "16MB"},
}


def test_the_every_attribute_inventory_sets_every_schema_attribute():
    assert set(EVERY_USER) == set(params.USER.fields)
    assert set(EVERY_DATABASE) == set(params.DATABASE.fields)


def _with_fixed_secrets(src: Path, dest: Path) -> Path:
    path = dest / src.name
    shutil.copy(src, path)
    secret_store.dump(FIXED_SECRETS, secret_store.secrets_path(path))
    return path


def _every_attribute_inventory(dest: Path) -> Path:
    (dest / "every").mkdir()
    path = copy_example("sandbox", dest / "every")
    data = yaml.safe_load(path.read_text())
    cluster = data["all"]["children"]["pg-test"]["vars"]
    cluster["pg_users"] = [*cluster.get("pg_users", []), EVERY_USER]
    cluster["pg_databases"] = [*cluster.get("pg_databases", []), EVERY_DATABASE]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _inventories(tmp: Path) -> Iterator[tuple[str, Path]]:
    for name in EXAMPLE_NAMES:
        (tmp / name).mkdir()
        yield name, copy_example(name, tmp / name)
    # The inventory `pigsalt sandbox` writes as pigsty.yml, unless an example already is it.
    sandbox = ROOT / "pigsalt" / "data" / "sandbox.yml"
    if all(sandbox.read_bytes() != (EXAMPLES / f"{name}.yml").read_bytes() for name in EXAMPLE_NAMES):
        yield "pigsty.yml", _with_fixed_secrets(sandbox, tmp)
    yield "every-attribute", _every_attribute_inventory(tmp)


def _args(body: dict[str, Any]) -> dict[str, Any]:
    """A rendered state's arguments: ``{"mod": [{k: v}, "fun", …]}`` → ``{k: v}``."""
    (call,) = [v for k, v in body.items() if not k.startswith("__")]
    args: dict[str, Any] = {}
    for item in call:
        if isinstance(item, dict):
            args.update(item)
    return args


def _expected(key: str, value: Any) -> Any:
    """An inventory value as the state receives it."""
    if key == "roles":
        return sorted(value)
    if key == "extensions":
        return [{"name": e, "schema": None} if isinstance(e, str) else {"schema": None, **e} for e in value]
    return value


@pytest.fixture(scope="module")
def cases(salt_caller, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any, dict[str, Any]]]:
    """(where, the node's cluster, every state of every SLS rendered for the node) for each node
    that holds an instance."""
    tmp = tmp_path_factory.mktemp("state-args")
    # The pigsty.* orchestrations run on the master and take no attribute (test_sls_render
    # renders them); rendering them takes seconds a node.
    names = ",".join(sls for sls in project_sls() if not sls.startswith("pigsty."))
    found = []
    for label, path in _inventories(tmp):
        inv, _ = open_inventory(path)
        for node in inv.nodes:
            pillar = node_pillar(path, node.name)[0]
            states = salt_caller.cmd("state.show_sls", names, pillar=pillar)
            if not isinstance(states, dict):
                # Some formula does not render (test_sls_render names it): the formulas that take
                # users' and databases' attributes are still checked.
                states = salt_caller.cmd("state.show_sls", "pgsql.users,pgbouncer", pillar=pillar)
            assert isinstance(states, dict), f"{label}/{node.name}: {states}"
            if node.instance is not None:
                found.append((f"{label}/{node.name}", inv.cluster(node.instance.cluster), states))
    return found


def _present(states: dict[str, Any], state_id: str, where: str) -> dict[str, Any]:
    assert state_id in states, f"{where}: no state {state_id}"
    return _args(states[state_id])


def test_every_user_attribute_reaches_a_state(cases):
    checked = set()
    for where, cluster, states in cases:
        userlist = states.get("pgbouncer-userlist-managed")
        auth_users = _args(userlist)["users"] if userlist else []
        for user in cluster.vars["pg_users"]:
            args = _present(states, f"pgsql-role-{user['name']}-present", where)
            for key, value in user.items():
                if key in USER_NOT_IMPLEMENTED or key in params.USER.known:
                    continue
                if key == "pgbouncer":
                    expected = bool(value) and userlist is not None
                    assert (user["name"] in auth_users) == expected, f"{where}: {user['name']}.pgbouncer"
                else:
                    assert key in args, f"{where}: {user['name']}.{key} does not reach role_present"
                    assert args[key] == _expected(key, value), f"{where}: {user['name']}.{key}"
                checked.add(key)
    assert checked == set(params.USER.fields) - USER_NOT_IMPLEMENTED


def test_every_database_attribute_reaches_a_state(cases):
    checked = set()
    for where, cluster, states in cases:
        pgbouncer = states.get("pgbouncer-databases-file-managed")
        lines = _args(pgbouncer)["contents"].splitlines() if pgbouncer else []
        for db in cluster.vars["pg_databases"]:
            args = _present(states, f"pgsql-database-{db['name']}-present", where)
            line = next((x.strip() for x in lines if x.strip().startswith(f"{db['name']} = ")), None)
            for key, value in db.items():
                if key in params.DATABASE.known:
                    continue
                if key == "pgbouncer":
                    assert (line is not None) == (value and pgbouncer is not None), f"{where}: {db['name']}.pgbouncer"
                elif key == "pool_mode":
                    assert line is None or f"pool_mode={value}" in line.split(), f"{where}: {db['name']}.pool_mode"
                else:
                    assert key in args, f"{where}: {db['name']}.{key} does not reach database_present"
                    assert args[key] == _expected(key, value), f"{where}: {db['name']}.{key}"
                checked.add(key)
    assert checked == set(params.DATABASE.fields)


def test_every_role_state_takes_its_arguments_and_expire_in_wins(cases):
    """What role_present builds from its arguments (the minion's RoleSpec), for every role."""
    every = 0
    for where, _, states in cases:
        for state_id, body in states.items():
            if state_id.startswith("pgsql-role-"):
                args = {k: v for k, v in _args(body).items() if k not in ("dbsu", "port", "order")}
                spec = roles.RoleSpec.from_pillar(args, today=date(2030, 1, 1))
                if args["name"] == "every_attr":
                    assert spec.valid_until == "2030-01-31", where
                    every += 1
    assert every
