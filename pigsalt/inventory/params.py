"""Every inventory parameter pigsalt implements: where it may be set, its type, default and meaning.

This table is the single source for validation, defaults and ``docs/inventory.md``
(regenerated with ``make docs``; a test fails when the file is stale). Names follow Pigsty's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pigsalt.debian import RELEASES
from pigsalt.inventory.cron import CronLine
from pigsalt.inventory.schema import (
    CIDR,
    AnyValue,
    Bool,
    Date,
    Enum,
    Int,
    IPv4,
    ListOf,
    MapOf,
    Node,
    OneOf,
    Str,
    Struct,
)

# Levels of the inventory a parameter may be set at; a lower level overrides a higher one.
GLOBAL, CLUSTER, INSTANCE = "all.vars", "cluster vars", "host vars"
ANY_LEVEL = (GLOBAL, CLUSTER, INSTANCE)
GROUP_LEVELS = (GLOBAL, CLUSTER)

CLUSTER_NAME = r"[a-z][a-z0-9-]{0,62}"
PG_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
NODE_NAME = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DURATION = r"\d+(ms|s|m|h|d)"
DEFAULT_SCRAPE_TIMEOUT = "8s"
# One pg_listen address: IPv4, *, or a placeholder of Pigsty's (pigsalt.pillar.compile.listen).
LISTEN_ITEM = r"(\d{1,3}(\.\d{1,3}){3}|\*|\$\{(ip|vip|lo|lo6)\})"


def duration_seconds(duration: str) -> float:
    """A DURATION (a number and ms, s, m, h or d) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)", duration).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def scrape_timeout(interval: str, timeout: str | None) -> str:
    """The scrape timeout: ``timeout`` as written, else 8s or ``interval`` if that is shorter."""
    if timeout is not None:
        return timeout
    return interval if duration_seconds(interval) < duration_seconds(DEFAULT_SCRAPE_TIMEOUT) else DEFAULT_SCRAPE_TIMEOUT


# Server flags as words a shell leaves alone inside double quotes, none of those pigsalt sets.
_PIGSALTS_FLAGS = r"config\.file|storage\.tsdb\.path|web\.listen-address|web\.console\.|web\.enable-lifecycle"
_PROMETHEUS_FLAG = rf"--(?!{_PIGSALTS_FLAGS})[a-z][a-z0-9.-]*(=[A-Za-z0-9_.,:/%+-]+)?"
PROMETHEUS_OPTIONS = rf"({_PROMETHEUS_FLAG})( +{_PROMETHEUS_FLAG})*"

# Roles every cluster has (Pigsty's defaults); users may be granted them without defining them.
DEFAULT_ROLES = ("dbrole_readonly", "dbrole_offline", "dbrole_readwrite", "dbrole_admin")
# Predefined roles of every supported major (15 and later).
PREDEFINED_ROLES = (
    "pg_checkpoint",
    "pg_database_owner",
    "pg_execute_server_program",
    "pg_monitor",
    "pg_read_all_data",
    "pg_read_all_settings",
    "pg_read_all_stats",
    "pg_read_server_files",
    "pg_signal_backend",
    "pg_stat_scan_tables",
    "pg_write_all_data",
    "pg_write_server_files",
)
# Predefined roles of later majors, with the first major that has them.
PREDEFINED_SINCE = {"pg_create_subscription": 16, "pg_use_reserved_connections": 16, "pg_maintain": 17}
# Ports the database node itself uses; services must not take them.
RESERVED_PORTS = {
    5432: "postgres",
    6432: "pgbouncer",
    8008: "patroni",
    9100: "node_exporter",
    9101: "haproxy admin",
    9630: "pg_exporter",
    9631: "pgbouncer_exporter",
}


# ALTER DEFAULT PRIVILEGES … GRANT, as Pigsty writes it (keywords in capitals).
DEFAULT_PRIVILEGE = (
    r"GRANT (?:ALL|(?:SELECT|INSERT|UPDATE|DELETE|TRUNCATE|REFERENCES|TRIGGER|EXECUTE|USAGE|CREATE)"
    r"(?:, ?(?:SELECT|INSERT|UPDATE|DELETE|TRUNCATE|REFERENCES|TRIGGER|EXECUTE|USAGE|CREATE))*)"
    r" ON (?:TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS) TO " + PG_IDENT
)
DEFAULT_PRIVILEGES = (
    "GRANT USAGE ON SCHEMAS TO dbrole_readonly",
    "GRANT SELECT ON TABLES TO dbrole_readonly",
    "GRANT SELECT ON SEQUENCES TO dbrole_readonly",
    "GRANT EXECUTE ON FUNCTIONS TO dbrole_readonly",
    "GRANT USAGE ON SCHEMAS TO dbrole_offline",
    "GRANT SELECT ON TABLES TO dbrole_offline",
    "GRANT SELECT ON SEQUENCES TO dbrole_offline",
    "GRANT EXECUTE ON FUNCTIONS TO dbrole_offline",
    "GRANT INSERT ON TABLES TO dbrole_readwrite",
    "GRANT UPDATE ON TABLES TO dbrole_readwrite",
    "GRANT DELETE ON TABLES TO dbrole_readwrite",
    "GRANT USAGE ON SEQUENCES TO dbrole_readwrite",
    "GRANT UPDATE ON SEQUENCES TO dbrole_readwrite",
    "GRANT TRUNCATE ON TABLES TO dbrole_admin",
    "GRANT REFERENCES ON TABLES TO dbrole_admin",
    "GRANT TRIGGER ON TABLES TO dbrole_admin",
    "GRANT CREATE ON SCHEMAS TO dbrole_admin",
)


@dataclass(frozen=True)
class Param:
    """One implemented parameter."""

    name: str
    node: Node
    default: Any
    levels: tuple[str, ...]
    section: str
    doc: str


# A Postgres setting (postgresql.conf through Patroni, ALTER ROLE/DATABASE … SET): a name as
# Postgres spells one (``class.name`` for an extension's), a scalar value on one line (Patroni
# writes it into postgresql.conf, where a newline ends the value and breaks the file).
SETTING_NAME = Str(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?", "setting name")
SETTINGS = MapOf(
    OneOf(
        (
            (lambda v: isinstance(v, str), Str(r"[^\x00-\x1f\x7f]*", "setting value on one line", allow_empty=True)),
            (lambda v: isinstance(v, (int, float, bool)), AnyValue()),
        ),
        "a scalar",
    ),
    key=SETTING_NAME,
)
# HAProxy server options go into a `default-server` line of haproxy.cfg as they are.
HAPROXY_SERVER_OPTIONS = Str(
    r"[A-Za-z0-9_.:/,=+-]+( [A-Za-z0-9_.:/,=+-]+)*",
    "HAProxy server option list (words of letters, digits and _.:/,=+- separated by single spaces)",
)

USER = Struct(
    name="user definition",
    fields={
        "name": Str(PG_IDENT, "role name"),
        "password": Str(hint="plain text, md5… or SCRAM-SHA-256$… hash", secret=True),
        "login": Bool(),
        "superuser": Bool(),
        "createdb": Bool(),
        "createrole": Bool(),
        "inherit": Bool(),
        "replication": Bool(),
        "bypassrls": Bool(),
        "pgbouncer": Bool(),
        "pool_mode": Enum(("transaction", "session", "statement")),
        "pool_connlimit": Int(min=-1),
        "connlimit": Int(min=-1),
        "expire_in": Int(min=1, unit="days"),
        "expire_at": Date(),
        "comment": Str(allow_empty=True),
        "roles": ListOf(Str(PG_IDENT, "role name"), unique=True),
        "parameters": SETTINGS,
    },
    required=("name",),
    known=frozenset({"state", "admin", "search_path", "timezone", "pool_size", "pool_reserve"}),
)

# An extension's name is its control file's: letters, digits, _ and - (uuid-ossp), always quoted.
EXTENSION_NAME = r"[A-Za-z_][A-Za-z0-9_-]{0,62}"
EXTENSION = OneOf(
    (
        (lambda v: isinstance(v, str), Str(EXTENSION_NAME, "extension name")),
        (
            lambda v: isinstance(v, dict),
            Struct(
                name="extension",
                fields={"name": Str(EXTENSION_NAME, "extension name"), "schema": Str(PG_IDENT, "schema name")},
                required=("name",),
            ),
        ),
    ),
    "an extension name or {name, schema}",
)

DATABASE = Struct(
    name="database definition",
    fields={
        "name": Str(PG_IDENT, "database name"),
        "owner": Str(PG_IDENT, "role name"),
        "template": Str(PG_IDENT, "database name"),
        "encoding": Str(r"[A-Za-z0-9_]+", "encoding"),
        "locale": Str(r"[A-Za-z0-9_.@-]+", "locale"),
        "lc_collate": Str(r"[A-Za-z0-9_.@-]+", "locale"),
        "lc_ctype": Str(r"[A-Za-z0-9_.@-]+", "locale"),
        "tablespace": Str(PG_IDENT, "tablespace name"),
        "allowconn": Bool(),
        "revokeconn": Bool(),
        "connlimit": Int(min=-1),
        "pgbouncer": Bool(),
        "pool_mode": Enum(("transaction", "session", "statement")),
        "comment": Str(allow_empty=True),
        "schemas": ListOf(Str(PG_IDENT, "schema name"), unique=True),
        "extensions": ListOf(EXTENSION),
        "parameters": SETTINGS,
    },
    required=("name",),
    known=frozenset(
        {"baseline", "register_datasource", "state", "is_template", "strategy", "pool_size", "pool_reserve"}
    ),
)

HAPROXY_OPTIONS = Struct(
    name="haproxy options",
    fields={
        "maxconn": Int(min=1),
        "balance": Enum(("roundrobin", "leastconn", "source", "first")),
        "default_server_options": HAPROXY_SERVER_OPTIONS,
    },
)

LISTEN_ADDRESS = OneOf(
    ((lambda v: v == "*", Enum(("*",))), (lambda v: isinstance(v, str), IPv4())),
    "'*' or an IPv4 address",
)

# Services accept Pigsty v1's form (src_port, dst_port, check_url, selector_backup, haproxy)
# and the later one (port, dest, check, backup); both become one Service model.
_YES_NO = OneOf(
    ((lambda v: isinstance(v, bool), Bool()), (lambda v: isinstance(v, str), Enum(("y", "n")))),
    "true, false, y or n",
)
_SIZE = Str(r"\d+(B|KiB|MiB|GiB|KB|MB|GB)?", "size such as 20MiB")
# One pgBackRest repository as Pigsty writes it (pgbackrest_repo's entries): each key becomes the
# repo1- option of the same name (underscores as dashes); compress_* and process_max are global
# options. Object-store keys are Pigsty's too: accepted, warned about, never used.
PGBACKREST_REPO = Struct(
    name="pgBackRest repository",
    fields={
        "type": Enum(("posix", "s3", "azure", "gcs", "sftp", "cifs")),
        "path": Str(r"/[A-Za-z0-9._/-]*", "absolute path"),
        "retention_full_type": Enum(("count", "time")),
        "retention_full": Int(min=1, max=9999999),
        "retention_diff": Int(min=1, max=9999999),
        "cipher_type": Enum(("none", "aes-256-cbc")),
        "cipher_pass": Str(r"[^\s'\"\\]{8,}", "passphrase of 8 or more characters, no blanks or quotes"),
        "bundle": _YES_NO,
        "bundle_limit": _SIZE,
        "bundle_size": _SIZE,
        "block": _YES_NO,
        "compress_type": Enum(("none", "gz", "lz4", "zst", "bz2")),
        "compress_level": Int(min=0, max=22),
        "process_max": Int(min=1, max=64),
    },
    known=frozenset(
        {
            "s3_endpoint", "s3_region", "s3_bucket", "s3_key", "s3_key_secret", "s3_uri_style",
            "storage_port", "storage_ca_file", "storage_verify_tls", "sftp_host", "sftp_host_user",
            "sftp_private_key_file", "azure_account", "azure_container", "azure_key", "gcs_bucket", "gcs_key",
        }
    ),
)  # fmt: skip


SERVICE = Struct(
    name="service definition",
    fields={
        "name": Str(CLUSTER_NAME, "service name"),
        "port": Int(min=1, max=65535),
        "ip": LISTEN_ADDRESS,
        "dest": OneOf(
            (
                (lambda v: isinstance(v, str), Enum(("postgres", "pgbouncer", "default"))),
                (lambda v: isinstance(v, int) and not isinstance(v, bool), Int(min=1, max=65535)),
            ),
            "postgres, pgbouncer or a port",
        ),
        "check": Str(r"/[A-Za-z0-9_\-/?=&.]*", "Patroni REST path"),
        "check_code": Int(min=100, max=599),
        "selector": Str(hint="JMESPath expression"),
        "backup": Str(hint="JMESPath expression"),
        "backup_check": Str(r"/[A-Za-z0-9_\-/?=&.]*", "Patroni REST path"),
        "maxconn": Int(min=1),
        "balance": Enum(("roundrobin", "leastconn", "source", "first")),
        "options": HAPROXY_SERVER_OPTIONS,
        # Pigsty v1 spellings.
        "src_ip": LISTEN_ADDRESS,
        "src_port": Int(min=1, max=65535),
        "dst_port": OneOf(
            (
                (lambda v: isinstance(v, str), Enum(("postgres", "pgbouncer"))),
                (lambda v: isinstance(v, int) and not isinstance(v, bool), Int(min=1, max=65535)),
            ),
            "postgres, pgbouncer or a port",
        ),
        "check_url": Str(r"/[A-Za-z0-9_\-/?=&.]*", "Patroni REST path"),
        "check_method": Enum(("http",)),
        "check_port": OneOf(((lambda v: v == "patroni", Enum(("patroni",))),), "patroni"),
        "selector_backup": Str(hint="JMESPath expression"),
        "haproxy": HAPROXY_OPTIONS,
    },
    required=("name",),
    known=frozenset({"dest_port", "check_url_replica"}),
)

HBA_ADDR = Str(r"local|localhost|intra|infra|world|cluster|admin|[0-9a-fA-F.:]+/\d{1,3}", "address alias or CIDR")
HBA_RULE = OneOf(
    (
        (
            lambda v: isinstance(v, dict) and "rules" in v,
            Struct(
                name="raw HBA rule group",
                fields={
                    "title": Str(r"[^\n\r]*", "title on one line", allow_empty=True),
                    "role": Enum(("common", "primary", "replica", "offline")),
                    "rules": ListOf(Str(r"(local|host|hostssl|hostnossl)\s+\S.*", "pg_hba.conf line")),
                },
                required=("rules",),
            ),
        ),
        (
            lambda v: isinstance(v, dict),
            Struct(
                name="HBA rule",
                fields={
                    "user": Str(
                        r"all|\+?[A-Za-z_][A-Za-z0-9_]{0,62}|\$\{(dbsu|admin|monitor|replicator|repl)\}",
                        "user, +role, ${dbsu|admin|monitor|repl} or all",
                    ),
                    "db": Str(r"all|replication|[A-Za-z_][A-Za-z0-9_]{0,62}", "database, replication or all"),
                    "addr": HBA_ADDR,
                    "auth": Enum(("pwd", "scram", "md5", "ssl", "cert", "deny", "trust", "peer", "ident", "os")),
                    "title": Str(r"[^\n\r]*", "title on one line", allow_empty=True),
                    "role": Enum(("common", "primary", "replica", "offline")),
                    "order": Int(min=0),
                },
                required=("user", "db", "addr", "auth"),
            ),
        ),
    ),
    "an HBA rule {user, db, addr, auth} or {title, role, rules: [...]}",
)


def _p(name: str, node: Node, default: Any, levels: tuple[str, ...], section: str, doc: str) -> Param:
    return Param(name, node, default, levels, section, doc)


_PARAMS: tuple[Param, ...] = (
    # --- identity -------------------------------------------------------------------------------
    _p(
        "pg_cluster",
        Str(CLUSTER_NAME, "cluster name"),
        None,
        (CLUSTER,),
        "identity",
        "Cluster name, unique in the deployment; lower-case letters, digits and '-'. Required.",
    ),
    _p(
        "pg_seq",
        Int(min=1),
        None,
        (INSTANCE,),
        "identity",
        "Instance number, a positive integer unique within the cluster; "
        "instance name is `<pg_cluster>-<pg_seq>`. Required.",
    ),
    _p(
        "pg_role",
        Enum(("primary", "replica", "offline")),
        None,
        (INSTANCE,),
        "identity",
        "Role at creation: exactly one `primary` per cluster; `offline` instances serve the offline service. Required.",
    ),
    _p(
        "pg_offline_query",
        Bool(),
        False,
        ANY_LEVEL,
        "identity",
        "Also serve the offline service (5438) from this replica.",
    ),
    _p(
        "pg_weight",
        Int(min=0, max=256),
        100,
        ANY_LEVEL,
        "identity",
        "HAProxy weight of this instance in every service.",
    ),
    _p(
        "nodename",
        Str(NODE_NAME, "host name"),
        None,
        (INSTANCE,),
        "identity",
        "Host name of the node and its Salt minion id. Default: the instance name when the node runs "
        "one, else the IP with dots replaced by dashes.",
    ),
    # --- HA -------------------------------------------------------------------------------------
    _p(
        "pg_rto",
        Int(min=20, max=3600, unit="s"),
        30,
        GROUP_LEVELS,
        "high availability",
        "Recovery time objective in seconds; Patroni's `ttl`. `loop_wait` = `retry_timeout` = "
        "`primary_start_timeout` = ⌊pg_rto/3⌋, so `loop_wait + 2·retry_timeout ≤ ttl` always holds. "
        "Patroni's minimum ttl is 20.",
    ),
    _p(
        "pg_rpo",
        Int(min=0, max=1073741824, unit="bytes"),
        1048576,
        GROUP_LEVELS,
        "high availability",
        "Recovery point objective in bytes: Patroni's `maximum_lag_on_failover`. 0 is RPO 0: strict "
        "synchronous mode (`synchronous_mode` and `synchronous_mode_strict`), where a commit returns only once "
        "a synchronous replica has it. Its cost is availability: with no synchronous replica left (the only "
        "replica down), the primary accepts reads but every write waits. It needs a replica "
        "(`pg_role: replica`).",
    ),
    _p(
        "patroni_watchdog_mode",
        Enum(("off", "automatic", "required")),
        "automatic",
        GROUP_LEVELS,
        "high availability",
        "Patroni's watchdog (Pigsty's name): a leader that stops renewing its lock is reset by the kernel "
        "before another member can take over. `automatic` (the default) arms `/dev/watchdog` where the node "
        "has one (softdog is loaded on a real machine, never in a container) and runs without it otherwise; "
        "`required` refuses to lead without one; `off` never uses it.",
    ),
    _p(
        "patroni_replica_methods",
        ListOf(Enum(("pgbackrest", "basebackup")), unique=True),
        ["pgbackrest", "basebackup"],
        GROUP_LEVELS,
        "high availability",
        "How Patroni builds a new or reinitialised replica, in order (its `create_replica_methods`): "
        "`pgbackrest` restores the newest backup from the repository as a standby and catches up from the "
        "archive, then from the leader (used only where the cluster is backed up); `basebackup` copies the "
        "leader with pg_basebackup. The next method is tried when one fails (no backup yet). An empty list "
        "is pg_basebackup alone.",
    ),
    _p(
        "patroni_fence_mode",
        Enum(("lease", "off")),
        "lease",
        GROUP_LEVELS,
        "high availability",
        "pigsalt's fence for a primary that stalls (frozen, paused, starved) longer than the leader lock's "
        "ttl, the case a watchdog covers where one exists. `lease` (the default): pigsalt-fence renews a "
        "lease in the kernel (nftables) each second while Patroni confirms the lock; when the lease runs out "
        "(`pg_rto` minus two Patroni loops, minus 1 s: 9 s at the default 30) the primary's client ports "
        "(Postgres, Pgbouncer, HAProxy's services) stop answering other hosts until Patroni confirms the "
        "lock again or demotes it, so a stale primary cannot acknowledge a write. Its cost: a primary whose "
        "Patroni is stopped or hangs that long stops serving clients; stop pigsalt-fence before stopping "
        "Patroni on a paused cluster. `off`: no fence.",
    ),
    _p(
        "patroni_port",
        Int(min=1, max=65535),
        8008,
        GROUP_LEVELS,
        "high availability",
        "Patroni REST API port; HAProxy checks it.",
    ),
    _p(
        "patroni_username",
        Str(PG_IDENT, "user name"),
        "postgres",
        GROUP_LEVELS,
        "high availability",
        "User for Patroni's unsafe REST endpoints (restart, reload, switchover, config).",
    ),
    _p(
        "patroni_password",
        Str(secret=True),
        None,
        GROUP_LEVELS,
        "high availability",
        "Password for Patroni's unsafe REST endpoints. Generated per cluster by `pigsalt pillar build` when unset.",
    ),
    # --- business -------------------------------------------------------------------------------
    _p(
        "pg_users",
        ListOf(USER),
        [],
        GROUP_LEVELS,
        "business",
        "Business users: `name` (required), `password`, `login`, `superuser`, `createdb`, `createrole`, "
        "`inherit`, `replication`, `bypassrls`, `pgbouncer`, `pool_mode`, `pool_connlimit`, `connlimit`, "
        "`expire_in`, `expire_at`, `comment`, `roles`, `parameters`.",
    ),
    _p(
        "pg_databases",
        ListOf(DATABASE),
        [],
        GROUP_LEVELS,
        "business",
        "Business databases: `name` (required), `owner`, `template`, `encoding`, `locale`, `lc_collate`, "
        "`lc_ctype`, `tablespace`, `allowconn`, `revokeconn`, `connlimit`, `pgbouncer`, `pool_mode`, "
        "`comment`, `schemas`, `extensions`, `parameters`. Not `postgres`, `template0`, `template1`, nor a "
        "word pg_hba.conf or Pgbouncer reads as a keyword (`all`, `replication`, `sameuser`, `samerole`, "
        "`samegroup`, `pgbouncer`).",
    ),
    _p(
        "pg_default_privileges",
        ListOf(Str(DEFAULT_PRIVILEGE, "GRANT <privileges> ON <TABLES|SEQUENCES|FUNCTIONS|TYPES|SCHEMAS> TO <role>")),
        list(DEFAULT_PRIVILEGES),
        GROUP_LEVELS,
        "business",
        "Default privileges on what the dbsu, the admin user and `dbrole_admin` (a business admin after "
        "`SET ROLE dbrole_admin`) create, applied in every database of "
        "`pg_databases` (`ALTER DEFAULT PRIVILEGES FOR ROLE … GRANT …`; only added, never revoked). Default: "
        "Pigsty's, so `dbrole_readonly`/`dbrole_offline` read, `dbrole_readwrite` writes and `dbrole_admin` "
        "also creates, whatever the admin creates.",
    ),
    _p(
        "pg_services",
        ListOf(SERVICE),
        None,
        GROUP_LEVELS,
        "services",
        "The cluster's HAProxy services. Default: primary 5433, replica 5434, default 5436, offline 5438 "
        "(see docs/services.md). In a Pigsty 2+ inventory (docs/pigsty.md) these are *extra* services, added "
        "to `pg_default_services`; in a v1 (or pigsalt-layout) inventory the list replaces the defaults.",
    ),
    _p(
        "pg_services_extra",
        ListOf(SERVICE),
        [],
        GROUP_LEVELS,
        "services",
        "Services added to `pg_services`: `{name, port, dest, check, selector, backup, backup_check, ip, "
        "maxconn, balance, options}` or Pigsty v1's `{name, src_port, dst_port, check_url, selector, "
        "selector_backup, haproxy}`.",
    ),
    _p(
        "pg_default_services",
        ListOf(SERVICE),
        None,
        GROUP_LEVELS,
        "services",
        "Pigsty 2+: the base services (default: primary 5433, replica 5434, default 5436, offline 5438); "
        "`pg_services` are added to them.",
    ),
    _p(
        "pg_default_service_dest",
        Enum(("pgbouncer", "postgres")),
        "pgbouncer",
        GROUP_LEVELS,
        "services",
        "Where a service with `dest: default` (or no dest) sends connections.",
    ),
    _p(
        "pg_default_hba_rules",
        ListOf(HBA_RULE),
        None,
        GROUP_LEVELS,
        "access control",
        "Pigsty 2+: the base Postgres HBA rules. Default: pigsalt's secure base rules (docs/hba.md). "
        "They must keep the dbsu, the replicator and the monitor able to connect (checked).",
    ),
    _p(
        "pgb_default_hba_rules",
        ListOf(HBA_RULE),
        None,
        GROUP_LEVELS,
        "access control",
        "Pigsty 2+: the base Pgbouncer HBA rules. Default: pigsalt's base rules.",
    ),
    _p(
        "pgb_hba_rules",
        ListOf(HBA_RULE),
        [],
        GROUP_LEVELS,
        "access control",
        "Pigsty 2+: Pgbouncer HBA rules added to `pgb_default_hba_rules`.",
    ),
    _p(
        "pg_hba_rules",
        ListOf(HBA_RULE),
        None,
        GROUP_LEVELS,
        "access control",
        "Postgres HBA rules, always *added* to the base rules (docs/hba.md): in a Pigsty 2+ inventory after "
        "`pg_default_hba_rules`; in a v1 (or pigsalt-layout) one after the fixed rules (dbsu, replicator, "
        "monitor) and `pg_hba_rules_extra`, in place of pigsalt's default business rules.",
    ),
    _p(
        "pg_hba_rules_extra",
        ListOf(HBA_RULE),
        [],
        GROUP_LEVELS,
        "access control",
        "HBA rules added to `pg_hba_rules`: `{user, db, addr, auth, title, role}`, or `{title, role, rules: "
        "[raw lines]}`. addr: local (the socket), localhost (the socket and 127.0.0.1, ::1), intra, infra, "
        "cluster, admin, world or a CIDR; auth: pwd "
        "(scram-sha-256), ssl, cert, deny, trust (local only), peer/ident (local only), md5; role: common, "
        "primary, replica, offline; order: position, lower first (base rules are 100, 110, …; extra rules "
        "default to 1000, so give a deny rule that must match first an order below 100).",
    ),
    _p(
        "pgbouncer_hba_rules",
        ListOf(HBA_RULE),
        None,
        GROUP_LEVELS,
        "access control",
        "Pgbouncer HBA rules of a v1 (or pigsalt-layout) inventory. Default: pigsalt's base rules. Setting it "
        "replaces them; `pgbouncer_hba_rules_extra` is added after.",
    ),
    _p(
        "pgbouncer_hba_rules_extra",
        ListOf(HBA_RULE),
        [],
        GROUP_LEVELS,
        "access control",
        "Pgbouncer HBA rules added to `pgbouncer_hba_rules`.",
    ),
    _p(
        "pg_admin_username",
        Str(PG_IDENT, "user name"),
        "dbuser_dba",
        GROUP_LEVELS,
        "system users",
        "Administration superuser.",
    ),
    _p(
        "pg_admin_password",
        Str(secret=True),
        None,
        GROUP_LEVELS,
        "system users",
        "Admin password. Generated per cluster by `pigsalt pillar build` when unset.",
    ),
    _p(
        "pg_monitor_username",
        Str(PG_IDENT, "user name"),
        "dbuser_monitor",
        GROUP_LEVELS,
        "system users",
        "Monitoring user (member of pg_monitor), used by the exporters.",
    ),
    _p(
        "pg_monitor_password",
        Str(secret=True),
        None,
        GROUP_LEVELS,
        "system users",
        "Monitor password. Generated per cluster by `pigsalt pillar build` when unset.",
    ),
    _p(
        "pg_replication_username",
        Str(PG_IDENT, "user name"),
        "replicator",
        GROUP_LEVELS,
        "system users",
        "Replication and pg_rewind user.",
    ),
    _p(
        "pg_replication_password",
        Str(secret=True),
        None,
        GROUP_LEVELS,
        "system users",
        "Replication password. Generated per cluster by `pigsalt pillar build` when unset.",
    ),
    _p(
        "pg_dbsu",
        Str(PG_IDENT, "OS user name"),
        "postgres",
        GROUP_LEVELS,
        "system users",
        "The OS and database superuser; it authenticates only over the local socket (peer).",
    ),
    # --- postgres -------------------------------------------------------------------------------
    _p(
        "pg_version",
        Int(),
        None,
        GROUP_LEVELS,
        "postgres",
        "Major PostgreSQL version. Default: the one the members' `node_os` ships (17 on debian13, "
        "15 on debian12); set without `node_os`, it picks the release that ships it.",
    ),
    _p(
        "pg_upgrade_from",
        Str(CLUSTER_NAME, "cluster name"),
        None,
        (CLUSTER,),
        "postgres",
        "Declares this cluster the successor of another in a major-version upgrade (`pigsalt upgrade "
        "SOURCE --to N`, docs/upgrade.md): it inherits the source's users, databases, HBA rules, services "
        "and VIP unless it sets its own; the source gets `wal_level: logical` and an HBA rule admitting "
        "this cluster's members as the admin user; this cluster's VIP keeper holds the VIP only after the "
        "cutover grants it.",
    ),
    _p("pg_port", Enum((5432,)), 5432, GROUP_LEVELS, "postgres", "Postgres port."),
    _p(
        "pg_data",
        Str(r"/[A-Za-z0-9_./-]+", "absolute path"),
        "/pg/data",
        GROUP_LEVELS,
        "postgres",
        "Data directory managed by Patroni.",
    ),
    _p(
        "pg_listen",
        Str(rf"{LISTEN_ITEM}( *, *{LISTEN_ITEM})*", "listen address list"),
        "0.0.0.0",
        GROUP_LEVELS,
        "postgres",
        "Addresses Postgres listens on, comma-separated: IPv4 addresses, `*`, and Pigsty's placeholders "
        "`${ip}` (the member's address), `${lo}` (127.0.0.1), `${lo6}` (::1) and `${vip}` (dropped with a "
        "warning: a member binds no address it does not hold; the VIP's clients use the services, or "
        "`0.0.0.0`, which takes the VIP whenever it arrives).",
    ),
    _p("pg_encoding", Str(r"[A-Za-z0-9_]+", "encoding"), "UTF8", GROUP_LEVELS, "postgres", "Cluster encoding."),
    _p("pg_locale", Str(r"[A-Za-z0-9_.@-]+", "locale"), "C.UTF-8", GROUP_LEVELS, "postgres", "Cluster locale."),
    _p(
        "pg_lc_collate",
        Str(r"[A-Za-z0-9_.@-]+", "locale"),
        "C.UTF-8",
        GROUP_LEVELS,
        "postgres",
        "Cluster LC_COLLATE (sort order).",
    ),
    _p(
        "pg_lc_ctype",
        Str(r"[A-Za-z0-9_.@-]+", "locale"),
        "C.UTF-8",
        GROUP_LEVELS,
        "postgres",
        "Cluster LC_CTYPE (character classes).",
    ),
    _p(
        "pg_conf",
        Enum(("oltp", "olap", "crit", "tiny")),
        "oltp",
        GROUP_LEVELS,
        "postgres",
        "Postgres tuning template; Pigsty's file names (`oltp.yml`) are accepted.",
    ),
    _p(
        "pg_libs",
        # Library names or paths (vchord.so, $libdir/x) separated by commas, as Postgres reads them.
        Str(r" *([A-Za-z0-9_.$/-]+ *(, *[A-Za-z0-9_.$/-]+ *)*)?", "library list"),
        "pg_stat_statements, auto_explain",
        GROUP_LEVELS,
        "postgres",
        "shared_preload_libraries (changing it needs a rolling restart).",
    ),
    _p(
        "pg_parameters",
        SETTINGS,
        {},
        GROUP_LEVELS,
        "postgres",
        "Extra postgresql.conf settings, applied through Patroni.",
    ),
    # --- pgbouncer ------------------------------------------------------------------------------
    _p("pgbouncer_enabled", Bool(), True, GROUP_LEVELS, "pgbouncer", "Run Pgbouncer on every member."),
    _p("pgbouncer_port", Enum((6432,)), 6432, GROUP_LEVELS, "pgbouncer", "Pgbouncer port."),
    _p(
        "pgbouncer_poolmode",
        Enum(("transaction", "session", "statement")),
        "transaction",
        GROUP_LEVELS,
        "pgbouncer",
        "Default pool mode.",
    ),
    _p(
        "pgbouncer_max_db_conn",
        Int(min=1, max=10000),
        100,
        GROUP_LEVELS,
        "pgbouncer",
        "Server connections per database.",
    ),
    # --- backup (pgBackRest) --------------------------------------------------------------------
    _p(
        "pgbackrest_enabled",
        Bool(),
        True,
        GROUP_LEVELS,
        "backup",
        "Back the cluster up with pgBackRest: WAL archived from whichever member is primary, a full backup "
        "right after the cluster is created (`pgbackrest_init_backup`), into the repository "
        "`pgbackrest_method` names (docs/backup.md).",
    ),
    _p(
        "pgbackrest_method",
        Str(r"[A-Za-z0-9_-]+", "repository key"),
        "local",
        GROUP_LEVELS,
        "backup",
        "Which entry of `pgbackrest_repo` the cluster uses. pigsalt keeps every repository on the first meta "
        "node, served by pgBackRest's own TLS server (port `pgbackrest_port`) to the members, each of which "
        "may read and write its own cluster's backups only: a lost database node takes no backup with it. "
        "Pigsty's `local` is the primary's own disk instead; an `s3` entry (Pigsty's `minio`) needs an "
        "object store pigsalt does not deploy: a warning, and the meta node's repository is used.",
    ),
    _p(
        "pgbackrest_repo",
        MapOf(AnyValue()),
        {"local": {"path": "/pg/backup", "retention_full_type": "count", "retention_full": 2}, "minio": {"type": "s3"}},
        GROUP_LEVELS,
        "backup",
        "Repositories by name (the default also holds Pigsty's `minio`, an object store: chosen with "
        "`pgbackrest_method: minio`, a warning and the meta node's `local` repository instead): "
        "`{type, path, retention_full_type, retention_full, retention_diff, "
        "cipher_type, cipher_pass, bundle, bundle_limit, bundle_size, block, compress_type, compress_level, "
        "process_max}` (Pigsty's names; each becomes pgBackRest's `repo1-` option of the same name, "
        "`compress_*` and `process_max` its global ones). `path` is on the meta node. `cipher_type` "
        "defaults to `aes-256-cbc` with a passphrase generated per cluster into the secrets store "
        "(`none` stores backups in clear); a `cipher_pass` given here is used instead. Only the entry "
        "`pgbackrest_method` names is checked.",
    ),
    _p(
        "pgbackrest_init_backup",
        Bool(),
        True,
        GROUP_LEVELS,
        "backup",
        "Take a full backup when the cluster has none (right after it is created).",
    ),
    _p(
        "pg_crontab",
        ListOf(CronLine()),
        [],
        GROUP_LEVELS,
        "backup",
        "Timed tasks of the database superuser on every member, in crontab's format without a user "
        "(`'00 01 * * * /pg/bin/pg-backup full'`): each line becomes a systemd timer and service "
        "(`pigsalt-cron-pg-*`). `/pg/bin/pg-backup full|diff|incr` backs up where it runs on the primary "
        "and does nothing elsewhere, so one schedule on every member follows the primary.",
    ),
    _p(
        "pgbackrest_log_dir",
        Str(r"/[^\s'\"\\]*", "absolute path"),
        "/pg/log/pgbackrest",
        GROUP_LEVELS,
        "backup",
        "pgBackRest's log directory on the members.",
    ),
    _p(
        "pgbackrest_port",
        Int(min=1, max=65535),
        8432,
        (GLOBAL,),
        "backup",
        "Port of the repository's pgBackRest TLS server on the meta node (pgBackRest's default).",
    ),
    # --- haproxy / vip --------------------------------------------------------------------------
    _p("haproxy_enabled", Bool(), True, GROUP_LEVELS, "services", "Run HAProxy on every member."),
    _p(
        "haproxy_admin_username",
        Str(PG_IDENT, "user name"),
        "admin",
        GROUP_LEVELS,
        "services",
        "User for HAProxy's admin page (:9101).",
    ),
    _p(
        "haproxy_admin_password",
        Str(
            r"[^\s#'\"\\]+",
            "password without spaces, #, quotes or backslashes (HAProxy's stats auth line)",
            secret=True,
        ),
        None,
        GROUP_LEVELS,
        "services",
        "Password for HAProxy's admin page. Generated per cluster by `pigsalt pillar build` when unset.",
    ),
    _p("haproxy_client_timeout", Str(DURATION, "duration"), "24h", GROUP_LEVELS, "services", "HAProxy client timeout."),
    _p("haproxy_server_timeout", Str(DURATION, "duration"), "24h", GROUP_LEVELS, "services", "HAProxy server timeout."),
    _p(
        "vip_mode",
        Enum(("none", "l2", "l4")),
        "none",
        GROUP_LEVELS,
        "services",
        "Pigsty v1's VIP switch: `l2` binds `vip_address` to the current primary; `l4` is not implemented "
        "(warning, no VIP). In a Pigsty 2+ inventory use `pg_vip_enabled`.",
    ),
    _p(
        "vip_address",
        IPv4(),
        None,
        GROUP_LEVELS,
        "services",
        "The cluster's L2 VIP (Pigsty v1); must lie in its members' subnet. Required with `vip_mode: l2`. "
        "In a Pigsty 2+ inventory `vip_*` is the node's keepalived VIP: ignored with a warning.",
    ),
    _p("vip_cidrmask", Int(min=1, max=32), 24, GROUP_LEVELS, "services", "Prefix length of the VIP (Pigsty v1)."),
    _p(
        "vip_interface",
        Str(r"[A-Za-z0-9_.@-]{1,15}", "interface name"),
        None,
        ANY_LEVEL,
        "services",
        "Interface that carries the VIP (Pigsty v1). Default: the interface that carries the member's "
        "address, found on the node; a name the node does not have is an error at the VIP state.",
    ),
    _p(
        "pg_vip_enabled",
        Bool(),
        False,
        GROUP_LEVELS,
        "services",
        "Pigsty 2+: bind `pg_vip_address` to the current primary (what `vip_mode: l2` does in v1).",
    ),
    _p(
        "pg_vip_address",
        Str(r"\d+\.\d+\.\d+\.\d+/\d{1,2}", "IPv4 address with prefix length, e.g. 10.10.10.3/24"),
        None,
        GROUP_LEVELS,
        "services",
        "Pigsty 2+: the cluster's VIP with its prefix length; required with `pg_vip_enabled: true`.",
    ),
    _p(
        "pg_vip_interface",
        Str(r"[A-Za-z0-9_.@-]{1,15}", "interface name"),
        None,
        ANY_LEVEL,
        "services",
        "Pigsty 2+: interface that carries the VIP. Default: the interface that carries the member's address.",
    ),
    # --- exporters ------------------------------------------------------------------------------
    _p("pg_exporter_port", Enum((9630,)), 9630, GROUP_LEVELS, "monitoring", "Postgres exporter port."),
    _p("pgbouncer_exporter_port", Enum((9631,)), 9631, GROUP_LEVELS, "monitoring", "Pgbouncer exporter port."),
    _p("node_exporter_port", Enum((9100,)), 9100, ANY_LEVEL, "monitoring", "node_exporter port."),
    _p(
        "prometheus_scrape_interval",
        Str(DURATION, "duration"),
        "10s",
        (GLOBAL,),
        "monitoring",
        "Prometheus scrape interval, and its rules' evaluation interval.",
    ),
    _p(
        "prometheus_scrape_timeout",
        OneOf(((lambda v: v is None, AnyValue()), (lambda v: True, Str(DURATION, "duration"))), "a duration"),
        None,
        (GLOBAL,),
        "monitoring",
        "Prometheus scrape timeout; no longer than `prometheus_scrape_interval`. Unset: 8s, or the scrape "
        "interval when that is shorter.",
    ),
    _p(
        "prometheus_sd_interval",
        Str(DURATION, "duration"),
        "5s",
        (GLOBAL,),
        "monitoring",
        "How often Prometheus re-reads its file-based service discovery (the targets pigsalt registers "
        "under /etc/prometheus/targets).",
    ),
    _p(
        "prometheus_data",
        Str(r"/[A-Za-z0-9_./-]+", "absolute path"),
        "/data/prometheus",
        (GLOBAL,),
        "monitoring",
        "Prometheus' time-series database directory on the meta nodes.",
    ),
    _p(
        "prometheus_options",
        Str(
            PROMETHEUS_OPTIONS,
            "list of Prometheus flags (--name or --name=value, separated by spaces; none that pigsalt sets)",
        ),
        "--storage.tsdb.retention.time=15d",
        (GLOBAL,),
        "monitoring",
        "Further flags of the Prometheus server (Pigsty's name), e.g. the retention: "
        "`--storage.tsdb.retention.time=30d --storage.tsdb.retention.size=20GB`. The flags pigsalt sets "
        "(`--config.file`, `--storage.tsdb.path`, `--web.listen-address`, `--web.console.*`, "
        "`--web.enable-lifecycle`) cannot be given here.",
    ),
    _p(
        "alertmanager_port",
        Enum((9093,)),
        9093,
        (GLOBAL,),
        "monitoring",
        "Alertmanager's port on the meta nodes (behind `a.pigsty`).",
    ),
    _p(
        "alertmanager_webhook_url",
        Str(r"https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+", "http(s) URL"),
        None,
        (GLOBAL,),
        "monitoring",
        "Where Alertmanager posts its notifications (its webhook JSON), firing and resolved. Unset: no "
        "webhook. With neither this nor `alertmanager_email_to`, alerts are grouped and kept in "
        "Alertmanager (`a.pigsty`) without being sent anywhere.",
    ),
    _p(
        "alertmanager_email_to",
        Str(r"[^@\s,]+@[^@\s,]+(, *[^@\s,]+@[^@\s,]+)*", "e-mail address, or several separated by commas"),
        None,
        (GLOBAL,),
        "monitoring",
        "Who receives Alertmanager's notifications by e-mail, through `alertmanager_smtp_smarthost`.",
    ),
    _p(
        "alertmanager_smtp_smarthost",
        Str(r"[A-Za-z0-9.-]+:\d{1,5}", "host:port"),
        None,
        (GLOBAL,),
        "monitoring",
        "The SMTP relay for `alertmanager_email_to` (STARTTLS required).",
    ),
    _p(
        "alertmanager_smtp_from",
        Str(r"[^@\s,]+@[^@\s,]+", "e-mail address"),
        None,
        (GLOBAL,),
        "monitoring",
        "The sender address of Alertmanager's e-mail. Default: `alertmanager@<the first meta node's name>`.",
    ),
    _p(
        "alertmanager_smtp_username",
        Str(r"[^\s]+", "user name"),
        None,
        (GLOBAL,),
        "monitoring",
        "SMTP user for `alertmanager_smtp_smarthost`; unset: no authentication.",
    ),
    _p(
        "alertmanager_smtp_password",
        Str(secret=True),
        None,
        (GLOBAL,),
        "monitoring",
        "SMTP password for `alertmanager_smtp_username` (held in /etc/prometheus/alertmanager.yml, 0640 "
        "root:prometheus).",
    ),
    _p(
        "grafana_admin_username", Str(PG_IDENT, "user name"), "admin", (GLOBAL,), "monitoring", "Grafana administrator."
    ),
    _p(
        "grafana_admin_password",
        Str(
            r"[^\s\"$\\]+",
            "password without spaces, double quotes, $ or backslashes (grafana.ini: Grafana expands $ in values)",
            secret=True,
        ),
        None,
        (GLOBAL,),
        "monitoring",
        "Grafana administrator's password, set at Grafana's first start (held in /etc/grafana/grafana.ini, "
        "0640 root:grafana). Generated by `pigsalt pillar build` when unset.",
    ),
    # --- infrastructure -------------------------------------------------------------------------
    _p(
        "version",
        Str(r"v?\d+(\.\d+)*(-[A-Za-z0-9.]+)?", "Pigsty release, e.g. v2.7.0"),
        None,
        (GLOBAL,),
        "infrastructure",
        "The Pigsty release the inventory was written for. It decides what `pg_services`, `pg_hba_rules` and "
        "`vip_*` mean (docs/pigsty.md); without it the parameters the file uses decide.",
    ),
    _p(
        "admin_ip",
        IPv4(),
        None,
        (GLOBAL,),
        "infrastructure",
        "Pigsty 2+: the admin node's address; replaces `${admin_ip}` in every value and is the `admin` HBA address.",
    ),
    _p(
        "infra_seq",
        Int(min=1),
        None,
        (INSTANCE,),
        "infrastructure",
        "Pigsty 2+: number of a node of the `infra` group (pigsalt's meta nodes).",
    ),
    _p(
        "etcd_seq",
        Int(min=1),
        None,
        (INSTANCE,),
        "dcs",
        "Pigsty 2+: number of a member of the `etcd` group; the member is named `<etcd_cluster>-<etcd_seq>`.",
    ),
    _p(
        "etcd_cluster",
        Str(CLUSTER_NAME, "name"),
        "etcd",
        GROUP_LEVELS,
        "dcs",
        "Pigsty 2+: name of the `etcd` group's cluster; members must be meta (infra) nodes.",
    ),
    _p(
        "repo_name", Str(CLUSTER_NAME, "name"), "pigsty", (GLOBAL,), "infrastructure", "Name of the offline repository."
    ),
    _p("repo_port", Int(min=1, max=65535), 80, (GLOBAL,), "infrastructure", "Nginx port on meta nodes."),
    _p(
        "dns_records",
        ListOf(Str(r"\d+\.\d+\.\d+\.\d+(\s+[A-Za-z0-9.-]+)+", "'IP name [name…]' record")),
        [],
        (GLOBAL,),
        "infrastructure",
        'Extra DNS records served by dnsmasq, `"IP name…"`.',
    ),
    _p(
        "dns_upstreams",
        ListOf(IPv4(), unique=True),
        [],
        (GLOBAL,),
        "infrastructure",
        "Upstream resolvers for names outside the deployment (pigsalt extension; none: answer only "
        "the deployment's names).",
    ),
    _p(
        "node_dns_servers",
        ListOf(IPv4(), unique=True),
        None,
        ANY_LEVEL,
        "node",
        "Resolvers of every node. Default: the meta nodes.",
    ),
    _p(
        "node_ntp_servers",
        ListOf(Str(r"[A-Za-z0-9.-]+|(server|pool|peer)\s+[A-Za-z0-9.-]+(\s+\S+)*", "host or chrony source line")),
        None,
        ANY_LEVEL,
        "node",
        "NTP sources of every node: host names/IPs or chrony lines (`pool pool.ntp.org iburst`). "
        "Default: the meta nodes.",
    ),
    _p(
        "node_timezone",
        Str(r"([A-Za-z_]+(/[A-Za-z0-9_+-]+)*)?", "time zone", allow_empty=True),
        "UTC",
        ANY_LEVEL,
        "node",
        "Time zone of every node; empty (as in Pigsty): leave each node's time zone alone.",
    ),
    _p(
        "node_os",
        Enum(tuple(RELEASES)),
        None,
        ANY_LEVEL,
        "node",
        "The Debian release the node runs: `debian13` (trixie: PostgreSQL 17, Python 3.13) or "
        "`debian12` (bookworm: PostgreSQL 15, Python 3.11). A cluster's members share one. The meta "
        "group's vars set it for the meta nodes. Default: the release that ships `pg_version`, "
        "else debian13. pigsalt does not change a node's release: it must match the node.",
    ),
    _p(
        "node_tune",
        Enum(("oltp", "olap", "crit", "tiny")),
        "oltp",
        ANY_LEVEL,
        "node",
        "sysctl and limits profile (skipped inside containers).",
    ),
    _p(
        "node_crontab",
        ListOf(CronLine(with_user=True)),
        [],
        ANY_LEVEL,
        "node",
        "Timed tasks of the node, in `/etc/crontab`'s format (`'00 01 * * * postgres /pg/bin/pg-backup full'`): "
        'each line becomes a systemd timer and service (`pigsalt-cron-node-*`, docs/backup.md, "Schedules"). '
        "Units of lines no longer listed are removed.",
    ),
    _p("node_admin_enabled", Bool(), True, ANY_LEVEL, "node", "Create the admin OS user."),
    _p(
        "node_admin_username",
        Str(r"[a-z_][a-z0-9_-]{0,31}", "OS user name"),
        "dba",
        ANY_LEVEL,
        "node",
        "Admin OS user (sudo).",
    ),
    _p("node_admin_uid", Int(min=1, max=65000), 88, ANY_LEVEL, "node", "Admin OS user's uid."),
    _p(
        "node_firewall_mode",
        Enum(("zone", "off", "none", "disabled", "rules")),
        "zone",
        ANY_LEVEL,
        "node",
        "The node firewall (nftables, pigsalt's own table): `zone` limits the control ports (exporters, "
        "HAProxy's admin page, Patroni's REST API, etcd) to the nodes that need them and everything else "
        "to the intranet plus `node_firewall_public_port`; `off` (Pigsty's `disabled`) removes pigsalt's "
        "table; `none` leaves the firewall alone. Pigsty's `rules` reads as `zone`. See docs/security.md.",
    ),
    _p(
        "node_firewall_intranet",
        ListOf(CIDR()),
        ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"],
        ANY_LEVEL,
        "node",
        "Networks trusted in `zone` mode: every port but the control ports is open to them.",
    ),
    _p(
        "node_firewall_public_port",
        ListOf(Int(min=1, max=65535)),
        [22, 80, 443],
        ANY_LEVEL,
        "node",
        "Ports open to sources outside `node_firewall_intranet` in `zone` mode (the control ports stay closed).",
    ),
    _p(
        "node_firewall_trusted",
        ListOf(CIDR()),
        [],
        ANY_LEVEL,
        "node",
        "pigsalt: networks that may also reach every control port (an admin or monitoring station that is not "
        "in the inventory; the sandbox lists its host).",
    ),
    _p(
        "node_admin_pk_list",
        ListOf(Str(r"(ssh|ecdsa)-\S+ \S+( .*)?", "SSH public key")),
        [],
        ANY_LEVEL,
        "node",
        "SSH public keys authorised for the admin user.",
    ),
    _p(
        "dcs_type",
        Enum(("etcd", "consul")),
        "etcd",
        (GLOBAL,),
        "dcs",
        "DCS implementation. `consul` (Pigsty v1's default) gives a warning: no Consul package exists for "
        "Debian, so etcd on the meta node(s) is used.",
    ),
    _p("dcs_name", Str(CLUSTER_NAME, "name"), "pigsty", (GLOBAL,), "dcs", "DCS cluster name (etcd cluster token)."),
    _p(
        "dcs_servers",
        MapOf(IPv4(), key=Str(NODE_NAME, "member name")),
        None,
        (GLOBAL,),
        "dcs",
        "DCS members `{name: ip}`; each must be a meta node. Default: every meta node.",
    ),
    _p(
        "etcd_data_dir",
        Str(r"/[A-Za-z0-9_./-]+", "absolute path"),
        "/data/etcd",
        (GLOBAL,),
        "dcs",
        "etcd data directory.",
    ),
    _p(
        "etcd_root_password",
        Str(secret=True),
        None,
        (GLOBAL,),
        "dcs",
        "Password of etcd's root user, which manages each cluster's etcd user and role (etcd RBAC: a "
        "cluster's Patroni reads and writes only its own keys). Generated by `pigsalt pillar build` when "
        "unset; only the DCS members receive it.",
    ),
    _p(
        "ca_method",
        Enum(("create", "copy")),
        "create",
        (GLOBAL,),
        "security",
        "`create`: the first meta node creates the local CA (its key never leaves that node). `copy`: "
        "use your own CA, whose `ca.key` and `ca.crt` you put in `/etc/pki/pigsalt/` on the first meta "
        "node before `pigsty.infra` (mode 0600 for the key).",
    ),
    _p(
        "ca_cn",
        Str(r"[^\n\r/,=+<>#;\"\\]{1,64}", "common name (1-64 characters, no / , = + < > # ; quotes or newline)"),
        "pigsty-ca",
        (GLOBAL,),
        "security",
        "Common name of the CA certificate `ca_method: create` makes (valid 20 years).",
    ),
    _p(
        "cert_validity",
        Str(r"[1-9][0-9]{0,4}d", "a number of days, like 365d"),
        "365d",
        (GLOBAL,),
        "security",
        "Validity of each node's certificate (SANs: its name, instance name, IPs, cluster name and VIP). "
        "A certificate with fewer than 30 days left (or a third of its validity, if shorter) is renewed "
        "by the next `pigsty.node`.",
    ),
)

PARAMS: Mapping[str, Param] = MappingProxyType({p.name: p for p in _PARAMS})

# PostgreSQL major versions each Debian release of the nodes ships.
PG_VERSIONS = {name: r.pg_versions for name, r in RELEASES.items()}

# Keys that may appear in a cluster group or host entry besides parameters.
GROUP_KEYS = ("hosts", "vars", "children")


def describe(param: Param) -> str:
    """One line of the type column in docs/inventory.md."""
    return param.node.describe()
