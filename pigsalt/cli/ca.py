"""``pigsalt ca cert``: the local CA's certificate, for clients that verify the servers."""

from __future__ import annotations

import click

from pigsalt import orch
from pigsalt.cli.deploy import _runner_json, _sandbox_runner
from pigsalt.errors import PigsaltError
from pigsalt.pillar.tls import CA_MINE

EPILOG = """Examples:

\b
  pigsalt ca cert > pigsty-ca.crt
  pigsalt ca cert --sandbox > pigsty-ca.crt
  psql "host=10.10.10.3 port=5433 dbname=test user=test sslmode=verify-full sslrootcert=pigsty-ca.crt"
"""


@click.group(epilog=EPILOG)
def ca() -> None:
    """The local CA (on the first meta node) that signs every node's certificate."""


@ca.command(epilog=EPILOG)
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Ask the sandbox's master.")
def cert(in_sandbox: bool) -> None:
    """Print the CA certificate (PEM), as the CA node published it in Salt's mine."""
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    found = _runner_json(runner, ["salt-run", "--out=json", "mine.get", "*", CA_MINE])
    pems = sorted({str(v) for v in found.values() if isinstance(v, str) and "BEGIN CERTIFICATE" in v})
    if not pems:
        raise PigsaltError("no CA certificate in the mine yet: run pigsty.infra (pigsalt deploy) first")
    if len(pems) > 1:
        raise PigsaltError(f"{len(pems)} different CA certificates in the mine ({', '.join(sorted(found))})")
    click.echo(pems[0], nl=not pems[0].endswith("\n"))
