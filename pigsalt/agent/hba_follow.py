"""Patroni's ``on_start`` / ``on_role_change`` callback: the HBA rules follow the new role at once.

``pigsalt_hba.managed`` writes the live HBA file for the role the member has when Salt runs, and
stages the file of every role beside it (``pg_hba.conf.primary``, ``pg_hba.conf.replica``, the
same for Pgbouncer's). After a failover or a switchover, Patroni runs this, as the dbsu, with
its three arguments appended::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.hba_follow \\
        --postgres /pg/conf/pg_hba.conf --port 5432 \\
        --pgbouncer /etc/pgbouncer/pgb_hba.conf --pgbouncer-pid /var/run/postgresql/pgbouncer.pid \\
        on_role_change primary pg-test

With ``--notify FILE`` (pigsalt's pillar: ``/run/postgresql/pigsalt-role-change``), the
callback then writes its three arguments to FILE, which a root path unit (pgsql.events) watches
to tell the Salt master (``pigsty/pg/role_change``): the master's registration asks Patroni for
the roles and never reads this file, so what it says is only a hint.

For each file whose staged copy for the new role differs from the live one: Postgres's copy
goes in, Postgres checks it (``pg_hba_file_rules``) and it is reloaded (``pg_reload_conf()``); a
file Postgres rejects is put back and nothing is reloaded. Pgbouncer's copy goes in and
Pgbouncer gets SIGHUP. Nothing is restarted. The next Salt run finds the files as it would
write them (the staged copies are its own output), so it changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pigsalt.agent import AgentError, files, hba_sql, psql, quoting
from pigsalt.agent.patroni import role_for_hba

log = logging.getLogger("pigsalt.agent.hba_follow")

PSQL_TIMEOUT = 30


def staged_path(live: Path, role: str) -> Path:
    """Where ``pigsalt_hba.managed`` stages ``live``'s rules for ``role`` (primary or replica)."""
    return live.with_name(f"{live.name}.{role}")


def _swap(live: Path, role: str) -> bytes | None:
    """Put the staged file for ``role`` in place; the old content, or None when nothing changed
    (or when there is no live file yet)."""
    staged = staged_path(live, role)
    if not live.exists():
        return None  # not written yet: Salt writes it, with the staged copies, before it is used
    try:
        new = staged.read_bytes()
    except FileNotFoundError:
        raise AgentError(f"{live}: no staged rules for role {role} ({staged}); run pgsql.hba once") from None
    old = live.read_bytes()
    if old == new:
        return None
    files.put(live, new)
    return old


def follow_postgres(live: Path, role: str, pg: psql.Psql) -> str:
    """Postgres's HBA file for ``role``, checked by Postgres and reloaded; what happened."""
    old = _swap(live, role)
    if old is None:
        return f"{live}: holds the {role} rules (or is not written yet)"
    done = pg.script(hba_sql.read_hba_sql())
    if done.returncode == psql.CANNOT_CONNECT:
        return f"{live}: {role} rules written; Postgres is not running, it reads them when it starts"
    if done.returncode != 0:
        files.put(live, old)
        raise AgentError(f"{live}: cannot check the {role} rules, the previous file is back: {done.stderr.strip()}")
    (found,) = quoting.parse_rows(done.stdout)
    if found["errors"]:
        files.put(live, old)
        raise AgentError(f"{live}: Postgres rejects the {role} rules, the previous file is back: {found['errors']}")
    done = pg.script(hba_sql.RELOAD_SQL)
    if done.returncode != 0:
        raise AgentError(f"{live}: {role} rules written, but pg_reload_conf() failed: {done.stderr.strip()}")
    return f"{live}: {role} rules in place, checked by Postgres and reloaded"


def follow_pgbouncer(live: Path, role: str, pidfile: Path) -> str:
    """Pgbouncer's HBA file for ``role``, then SIGHUP (Pgbouncer re-reads it); what happened."""
    if _swap(live, role) is None:
        return f"{live}: holds the {role} rules (or is not written yet)"
    if not files.hup(pidfile):
        return f"{live}: {role} rules written; Pgbouncer is not running, it reads them when it starts"
    return f"{live}: {role} rules in place, Pgbouncer reloaded"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pigsalt.agent.hba_follow", description="Patroni callback: HBA rules follow the role."
    )
    parser.add_argument("--postgres", type=Path, help="Postgres's live HBA file")
    parser.add_argument("--port", type=int, default=5432, help="Postgres's port (local socket)")
    parser.add_argument("--pgbouncer", type=Path, help="Pgbouncer's live HBA file")
    parser.add_argument("--pgbouncer-pid", type=Path, default=Path("/var/run/postgresql/pgbouncer.pid"))
    parser.add_argument("--notify", type=Path, help="a file to write the callback's arguments to, last")
    parser.add_argument("action", help="Patroni's callback name (on_start, on_role_change, ...)")
    parser.add_argument("role", help="the role Patroni reports (primary, replica, standby_leader, ...)")
    parser.add_argument("cluster", help="the cluster (Patroni's scope)")
    return parser


def main(argv: Sequence[str] | None = None, run: psql.Run = psql.local) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="pigsalt-hba-follow: %(levelname)s: %(message)s")
    role = role_for_hba(args.role)
    failed = False
    steps: list[Callable[[], str]] = []
    if args.postgres:
        pg = psql.Psql(run, port=args.port, timeout=PSQL_TIMEOUT)
        steps.append(lambda: follow_postgres(args.postgres, role, pg))
    if args.pgbouncer:
        steps.append(lambda: follow_pgbouncer(args.pgbouncer, role, args.pgbouncer_pid))
    for step in steps:
        try:
            log.info("%s %s (%s): %s", args.cluster, args.action, args.role, step())
        except (AgentError, OSError) as err:
            log.error("%s %s (%s): %s", args.cluster, args.action, args.role, err)
            failed = True
    if args.notify:
        try:
            args.notify.write_text(f"{args.action} {args.role} {args.cluster}\n", encoding="utf-8")
        except OSError as err:
            log.error("%s %s (%s): cannot notify %s: %s", args.cluster, args.action, args.role, args.notify, err)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
