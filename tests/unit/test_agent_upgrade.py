"""pigsalt.agent.upgrade: what blocks an upgrade, and how the source is reached (no password)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from pigsalt.agent import upgrade

STATE = upgrade.SourceState(
    databases=("postgres", "template0", "template1", "app"),
    no_identity={"app": ()},
    unlogged={"app": ()},
    large_objects={"app": 0},
    extensions={"app": ()},
    roles_missing=(),
    missing_on_successor=(),
)
SETTINGS = {"wal_level": "logical", "max_replication_slots": "10", "max_wal_senders": "10"}


def _state(**changes: object) -> upgrade.SourceState:
    return upgrade.SourceState(**{**STATE.__dict__, **changes})  # type: ignore[arg-type]


def test_a_ready_source_has_no_blockers() -> None:
    assert upgrade.blockers(SETTINGS, STATE, ["app"]) == []


@pytest.mark.parametrize(
    ("settings", "state", "needle"),
    [
        ({**SETTINGS, "wal_level": "replica"}, STATE, "wal_level=replica"),
        ({**SETTINGS, "max_replication_slots": "1"}, STATE, "max_replication_slots is 1"),
        (
            SETTINGS,
            _state(no_identity={"app": ("public.notes",)}),
            "no primary key nor replica identity on public.notes",
        ),
        (SETTINGS, _state(unlogged={"app": ("public.cache",)}), "unlogged tables are not replicated: public.cache"),
        (SETTINGS, _state(large_objects={"app": 3}), "3 large object(s)"),
        (SETTINGS, _state(extensions={"app": ("timescaledb",)}), "not installable on the successor: timescaledb"),
        (SETTINGS, _state(roles_missing=("handmade",)), "handmade (declare them in pg_users"),
        (SETTINGS, _state(missing_on_successor=("app",)), "database app: not on the successor"),
        (SETTINGS, _state(databases=("postgres",)), "database app: not on the source"),
        (SETTINGS, _state(databases=(*STATE.databases, "stray")), "not in the inventory, which would not move: stray"),
    ],
)
def test_each_blocker_is_one_line_naming_what_and_where(
    settings: dict[str, str], state: upgrade.SourceState, needle: str
) -> None:
    found = upgrade.blockers(settings, state, ["app"])
    assert len(found) == 1, found
    assert needle in found[0]


def test_slot_names_are_valid_unique_and_stable() -> None:
    names = {upgrade.slot_name(db) for db in ("app", "App", "my db", "ä" * 60)}
    assert len(names) == 4
    for name in names:
        assert name.startswith("pigsalt_upgrade_") and len(name) <= 63 and name.isascii()
    assert upgrade.slot_name("app") == upgrade.slot_name("app")


def test_the_connection_string_names_a_passfile_never_a_password() -> None:
    source = upgrade.Endpoint("10.10.10.14", 5432, "dbuser_dba")
    conninfo = source.conninfo("it's", "/var/lib/postgresql/pigsalt-upgrade.pgpass")
    assert "password" not in conninfo
    assert "dbname='it\\'s'" in conninfo
    assert "passfile='/var/lib/postgresql/pigsalt-upgrade.pgpass'" in conninfo


def test_the_passfile_is_private_and_escapes_colons(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    path = upgrade.write_passfile(str(tmp_path), me, upgrade.Endpoint("10.10.10.14", 5432, "dba"), "a:b\\c")
    assert (os.stat(path).st_mode & 0o777) == 0o600
    assert Path(path).read_text() == "10.10.10.14:5432:*:dba:a\\:b\\\\c\n"
