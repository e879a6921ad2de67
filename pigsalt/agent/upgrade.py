"""A major-version upgrade by logical replication, run on the successor's primary (as root).

The successor (PostgreSQL 17 on Debian 13) was deployed empty by pigsalt with the source's users
and databases. For every database this module copies the schema (``pg_dump --schema-only`` of
17 against the source, into the successor), publishes every table on the source and subscribes
to it on the successor; at the cutover it freezes the source (read-only, sessions ended), waits
until every subscription confirmed the source's last WAL position, copies the sequences, and
then drops the subscriptions and publications. The schema copy is ``pg_dump --clean``: the
successor's own copies of the source's tables (from an aborted start, say) are replaced, empty.

Every statement on the successor runs as its database superuser over the local socket; the
source is reached over TCP as the admin user, whose password sits only in a passfile owned by
the database superuser (mode 0600), named in the subscriptions' connection string: no password
is on a command line, in the catalog, in a log or in a return value.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pigsalt.agent import AgentError, files, psql, quoting

__all__ = [
    "NAME",
    "Endpoint",
    "Upgrade",
    "blockers",
    "slot_name",
]

NAME = "pigsalt_upgrade"  # the publication on the source, the subscriptions on the successor
PASSFILE = "pigsalt-upgrade.pgpass"  # in the database superuser's home directory
TIMEOUT = 120.0  # one psql or pg_dump call
SCHEMA_TIMEOUT = 900.0
# Databases nobody copies: the templates, and ``postgres`` (the successor has its own).
SKIPPED_DATABASES = frozenset({"template0", "template1", "postgres"})


def slot_name(dbname: str) -> str:
    """The replication slot of one database's subscription (slot names are cluster-wide)."""
    return f"{NAME}_{hashlib.sha256(dbname.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Endpoint:
    """The source's primary as the successor reaches it: TCP, the admin user."""

    host: str
    port: int
    user: str

    def conninfo(self, dbname: str, passfile: str) -> str:
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": dbname,
            "passfile": passfile,
            "connect_timeout": "10",
            "application_name": NAME,
        }
        return " ".join(f"{k}={_conn_value(v)}" for k, v in parts.items())


def _conn_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Runs argv (as the database superuser) with stdin; returns (exit status, stdout, stderr).
Runner = Callable[[Sequence[str], "str | None", float], tuple[int, str, str]]


def runuser(dbsu: str, env: Mapping[str, str]) -> Runner:
    """A Runner: ``runuser -u DBSU --`` with ``env`` (no password in it), as root does."""

    def run(argv: Sequence[str], stdin: str | None, timeout: float) -> tuple[int, str, str]:
        try:
            done = subprocess.run(
                ["runuser", "-u", dbsu, "--", *argv],
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **env},
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AgentError(f"{argv[0]}: no answer within {timeout:g} s") from None
        return done.returncode, done.stdout, done.stderr

    return run


@dataclass(frozen=True)
class Upgrade:
    """One upgrade: the source endpoint, the successor's server, the databases to move."""

    source: Endpoint
    databases: tuple[str, ...]
    run: Runner
    bin_dir: str
    passfile: str
    port: int = 5432
    socket_dir: str = "/var/run/postgresql"

    # --- talking to both servers -------------------------------------------------------------

    def _psql(self, target: str, sql: str, timeout: float = TIMEOUT) -> str:
        # A connection string as the database name: its host, port and user win over psql's.
        argv = psql.script_argv(target, self.port, self.socket_dir)
        code, out, err = self.run(argv, sql, timeout)
        if code != 0:
            raise AgentError(quoting.scrub(" ".join(err.split()) or f"psql exited {code}"))
        return out

    def local_target(self, dbname: str) -> str:
        return f"host={_conn_value(self.socket_dir)} port={self.port} dbname={_conn_value(dbname)}"

    def source_target(self, dbname: str) -> str:
        return self.source.conninfo(dbname, self.passfile)

    def on_source(self, dbname: str, select: str) -> list[dict[str, Any]]:
        return quoting.parse_rows(self._psql(self.source_target(dbname), quoting.query(select)))

    def on_successor(self, dbname: str, select: str) -> list[dict[str, Any]]:
        return quoting.parse_rows(self._psql(self.local_target(dbname), quoting.query(select)))

    def exec_source(self, dbname: str, sql: str) -> None:
        # Our own session writes even to a frozen source (dropping the publication, say).
        self._psql(self.source_target(dbname), "SET default_transaction_read_only = off;\n" + sql)

    def exec_successor(self, dbname: str, sql: str) -> None:
        self._psql(self.local_target(dbname), sql)

    # --- the steps ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """What blocks the upgrade, one line each (empty: nothing)."""
        try:
            settings = {
                r["name"]: r["setting"]
                for r in self.on_source(
                    "postgres",
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_version_num')",
                )
            }
        except AgentError as err:
            return [f"cannot reach the source {self.source.host}:{self.source.port} as {self.source.user}: {err}"]
        found = _source_state(self)
        return blockers(settings, found, self.databases)

    def start(self) -> dict[str, str]:
        """Copy each database's schema and subscribe it; what was done per database (idempotent)."""
        done: dict[str, str] = {}
        for db in self.databases:
            if self._subscribed(db):
                done[db] = "already replicating"
                continue
            if not self.on_source(db, f"SELECT 1 FROM pg_publication WHERE pubname = {quoting.literal(NAME)}"):
                self.exec_source(db, f"CREATE PUBLICATION {NAME} FOR ALL TABLES;")
            self._copy_schema(db)
            slot = slot_name(db)
            if self.on_source(
                "postgres", f"SELECT 1 FROM pg_replication_slots WHERE slot_name = {quoting.literal(slot)}"
            ):
                self.exec_source("postgres", f"SELECT pg_drop_replication_slot({quoting.literal(slot)});")
            self.exec_successor(
                db,
                f"CREATE SUBSCRIPTION {NAME} CONNECTION {quoting.literal(self.source_target(db))} "
                f"PUBLICATION {NAME} WITH (slot_name = {quoting.literal(slot)});",
            )
            done[db] = "schema copied, subscribed"
        return done

    def _subscribed(self, db: str) -> bool:
        return bool(
            self.on_successor(
                db,
                f"SELECT 1 FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                f"WHERE s.subname = {quoting.literal(NAME)} AND d.datname = current_database()",
            )
        )

    def _copy_schema(self, db: str) -> None:
        argv = [
            f"{self.bin_dir}/pg_dump",
            "--no-password",
            "--schema-only",
            "--clean",
            "--if-exists",
            "--no-publications",
            "--no-subscriptions",
            "-d",
            self.source_target(db),
        ]
        code, schema, err = self.run(argv, None, SCHEMA_TIMEOUT)
        if code != 0:
            raise AgentError(f"pg_dump --schema-only of {db} on the source: {quoting.scrub(' '.join(err.split()))}")
        self._psql(self.local_target(db), schema, SCHEMA_TIMEOUT)

    def progress(self) -> dict[str, dict[str, Any]]:
        """Per database: tables in the subscription, how many are synchronized, bytes behind."""
        out: dict[str, dict[str, Any]] = {}
        for db in self.databases:
            rows = self.on_successor(
                db,
                "SELECT count(*) AS tables, count(*) FILTER (WHERE r.srsubstate = 'r') AS ready "
                "FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
                f"WHERE s.subname = {quoting.literal(NAME)}",
            )
            lag = self.on_source(
                "postgres",
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS behind "
                f"FROM pg_replication_slots WHERE slot_name = {quoting.literal(slot_name(db))}",
            )
            subscribed = self._subscribed(db)
            out[db] = {
                "subscribed": subscribed,
                "tables": int(rows[0]["tables"]) if rows else 0,
                "ready": int(rows[0]["ready"]) if rows else 0,
                "behind_bytes": int(lag[0]["behind"]) if lag and lag[0]["behind"] is not None else None,
            }
        return out

    def freeze_source(self) -> int:
        """Make the source read-only and end its client sessions; how many were ended."""
        self.exec_source("postgres", "ALTER SYSTEM SET default_transaction_read_only = on;\nSELECT pg_reload_conf();\n")
        rows = self.on_source(
            "postgres",
            "SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            f"AND coalesce(application_name, '') <> {quoting.literal(NAME)}",
        )
        return int(rows[0]["ended"]) if rows else 0

    def thaw_source(self) -> None:
        """Undo ``freeze_source``: the source takes writes again."""
        self.exec_source("postgres", "ALTER SYSTEM RESET default_transaction_read_only;\nSELECT pg_reload_conf();\n")

    def wait_caught_up(self, timeout: float, interval: float = 0.05) -> float:
        """Wait until every subscription confirmed the source's current WAL position; seconds taken."""
        started = time.monotonic()
        target = self.on_source("postgres", "SELECT pg_current_wal_lsn()::text AS lsn")[0]["lsn"]
        slots = quoting.in_list(slot_name(db) for db in self.databases)
        while True:
            rows = self.on_source(
                "postgres",
                f"SELECT count(*) FILTER (WHERE confirmed_flush_lsn >= {quoting.literal(target)}::pg_lsn) AS done, "
                f"count(*) AS slots FROM pg_replication_slots WHERE slot_name IN ({slots})",
            )
            done, slots_found = int(rows[0]["done"]), int(rows[0]["slots"])
            if slots_found < len(self.databases):
                raise AgentError(f"{len(self.databases) - slots_found} subscription slot(s) missing on the source")
            if done == slots_found:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AgentError(
                    f"the successor did not confirm the source's WAL position {target} within {timeout:g} s"
                )
            time.sleep(interval)

    def copy_sequences(self) -> int:
        """Set every sequence on the successor to the source's value; how many."""
        count = 0
        for db in self.databases:
            rows = self.on_source(
                db,
                "SELECT format('%I.%I', schemaname, sequencename) AS seq, last_value::text AS value "
                "FROM pg_sequences WHERE last_value IS NOT NULL",
            )
            if rows:
                sql = "".join(
                    f"SELECT setval({quoting.literal(r['seq'])}::regclass, {int(r['value'])}, true);\n" for r in rows
                )
                self.exec_successor(db, sql)
                count += len(rows)
        return count

    def drop_replication(self) -> None:
        """Drop the subscriptions (and so their slots) and the publications; idempotent."""
        for db in self.databases:
            if self._subscribed(db):
                self.exec_successor(db, f"DROP SUBSCRIPTION {NAME};")
            slot = slot_name(db)
            if self.on_source(
                "postgres", f"SELECT 1 FROM pg_replication_slots WHERE slot_name = {quoting.literal(slot)}"
            ):
                self.exec_source("postgres", f"SELECT pg_drop_replication_slot({quoting.literal(slot)});")
            self.exec_source(db, f"DROP PUBLICATION IF EXISTS {NAME};")


@dataclass(frozen=True)
class SourceState:
    databases: tuple[str, ...]
    no_identity: Mapping[str, tuple[str, ...]]
    unlogged: Mapping[str, tuple[str, ...]]
    large_objects: Mapping[str, int]
    extensions: Mapping[str, tuple[str, ...]]  # missing on the successor
    roles_missing: tuple[str, ...]
    missing_on_successor: tuple[str, ...]


def _source_state(up: Upgrade) -> SourceState:
    dbs = tuple(r["datname"] for r in up.on_source("postgres", "SELECT datname FROM pg_database ORDER BY 1"))
    available = {r["name"] for r in up.on_successor("postgres", "SELECT name FROM pg_available_extensions")}
    successor_dbs = {r["datname"] for r in up.on_successor("postgres", "SELECT datname FROM pg_database")}
    no_identity: dict[str, tuple[str, ...]] = {}
    unlogged: dict[str, tuple[str, ...]] = {}
    large: dict[str, int] = {}
    extensions: dict[str, tuple[str, ...]] = {}
    user_tables = (
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
    )
    for db in up.databases:
        if db not in dbs:
            continue
        rows = up.on_source(
            db,
            "SELECT format('%I.%I', n.nspname, c.relname) AS tbl, c.relpersistence AS p, c.relreplident AS ri, "
            "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk " + user_tables,
        )
        no_identity[db] = tuple(r["tbl"] for r in rows if r["ri"] == "n" or (r["ri"] == "d" and not r["pk"]))
        unlogged[db] = tuple(r["tbl"] for r in rows if r["p"] == "u")
        large[db] = int(up.on_source(db, "SELECT count(*) AS n FROM pg_largeobject_metadata")[0]["n"])
        exts = {r["extname"] for r in up.on_source(db, "SELECT extname FROM pg_extension")}
        extensions[db] = tuple(sorted(exts - available))
    source_roles = {
        r["rolname"] for r in up.on_source("postgres", "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'")
    }
    successor_roles = {r["rolname"] for r in up.on_successor("postgres", "SELECT rolname FROM pg_roles")}
    return SourceState(
        databases=dbs,
        no_identity=no_identity,
        unlogged=unlogged,
        large_objects=large,
        extensions=extensions,
        roles_missing=tuple(sorted(source_roles - successor_roles)),
        missing_on_successor=tuple(db for db in up.databases if db not in successor_dbs),
    )


def blockers(settings: Mapping[str, str], found: SourceState, databases: Iterable[str]) -> list[str]:
    """What stops a logical-replication upgrade, from the source's settings and catalogs."""
    wanted = tuple(databases)
    out: list[str] = []
    if settings.get("wal_level") != "logical":
        out.append(
            f"the source runs wal_level={settings.get('wal_level')}, logical replication needs logical: "
            "deploy the source cluster again (pg_upgrade_from makes it logical; a rolling restart)"
        )
    for key in ("max_replication_slots", "max_wal_senders"):
        if int(settings.get(key) or 0) < len(wanted) + 1:
            out.append(f"the source's {key} is {settings.get(key)}: {len(wanted)} database(s) need as many more")
    for db in wanted:
        if db not in found.databases:
            out.append(f"database {db}: not on the source")
    for db in found.missing_on_successor:
        out.append(f"database {db}: not on the successor (deploy it first)")
    for db, tables in found.no_identity.items():
        if tables:
            out.append(
                f"database {db}: no primary key nor replica identity on {', '.join(tables)} "
                "(published, their UPDATE and DELETE would fail on the source): add a primary key "
                "or ALTER TABLE … REPLICA IDENTITY FULL"
            )
    for db, tables in found.unlogged.items():
        if tables:
            out.append(f"database {db}: unlogged tables are not replicated: {', '.join(tables)}")
    for db, count in found.large_objects.items():
        if count:
            out.append(f"database {db}: {count} large object(s), which logical replication does not carry")
    for db, names in found.extensions.items():
        if names:
            out.append(f"database {db}: extension(s) not installable on the successor: {', '.join(names)}")
    if found.roles_missing:
        out.append(
            "role(s) on the source but not on the successor: "
            + ", ".join(found.roles_missing)
            + " (declare them in pg_users, then deploy the successor)"
        )
    extra = sorted(set(found.databases) - SKIPPED_DATABASES - set(wanted))
    if extra:
        out.append(f"database(s) on the source not in the inventory, which would not move: {', '.join(extra)}")
    return out


def write_passfile(home: str, dbsu: str, source: Endpoint, password: str) -> str:
    """The passfile the subscriptions and pg_dump read (0600, owned by the database superuser)."""
    path = Path(home) / PASSFILE

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    line = f"{esc(source.host)}:{source.port}:*:{esc(source.user)}:{esc(password)}\n"
    user = pwd.getpwnam(dbsu)
    files.write(path, line.encode(), 0o600, user.pw_uid, user.pw_gid)
    return str(path)
