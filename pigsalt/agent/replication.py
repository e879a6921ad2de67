"""Whether a member streams from this server, as this server's ``pg_stat_replication`` says.

A replica's own ``/replica?replication_state=streaming`` can answer 200 while its WAL receiver
still fails to start; only the sending side proves it streams. ``checks.replication`` runs this
on the Patroni leader, as the database superuser (peer over the local socket)::

    python -m pigsalt.agent.replication --member pg-test-2 --port 5432

Exit 0 when the member streams; 1 with the reason on standard error otherwise (the waiting
state shows the last line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pigsalt.agent import AgentError, psql, quoting

# Below pigsalt.wait_cmd's 10 s limit for one probe, so a hung server is reported as such.
TIMEOUT = 5.0


def streaming_sql(member: str) -> str:
    """A ``query`` of the states of the WAL senders serving ``member`` (its application_name)."""
    return quoting.query(
        f"SELECT state FROM pg_catalog.pg_stat_replication WHERE application_name = {quoting.literal(member)}"
    )


def not_streaming(member: str, client: psql.Psql) -> str | None:
    """Why ``member`` does not stream from this server, or None when it does."""
    states = sorted(str(row.get("state")) for row in quoting.parse_rows(client.query(streaming_sql(member))))
    if "streaming" in states:
        return None
    seen = f"its WAL sender is {', '.join(states)}" if states else "no WAL sender serves it"
    return f"{member} does not stream from this server: {seen}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pigsalt.agent.replication", description=__doc__)
    parser.add_argument("--member", required=True, help="the replica's name (its application_name)")
    parser.add_argument("--port", type=int, default=5432, help="this server's port (Unix socket)")
    return parser


def main(argv: Sequence[str] | None = None, run: psql.Run | None = None) -> int:
    args = _parser().parse_args(argv)
    client = psql.Psql(run or psql.local, port=args.port, timeout=TIMEOUT)
    try:
        why = not_streaming(args.member, client)
    except AgentError as err:
        print(f"cannot read pg_stat_replication: {err}", file=sys.stderr)
        return 1
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    print(f"{args.member} streams from this server")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through main() in the tests
    sys.exit(main())
