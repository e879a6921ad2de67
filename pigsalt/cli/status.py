"""``pigsalt status``: every cluster, its members, services, scrapes and alerts, on one screen."""

from __future__ import annotations

import json
import time

import click

from pigsalt import orch
from pigsalt import status as st
from pigsalt.cli.deploy import _runner_json, _sandbox_runner
from pigsalt.cli.options import json_option

EPILOG = """Examples:

\b
  pigsalt status                       # on the Salt master
  pigsalt status --cluster pg-test --json
  pigsalt status --sandbox --watch 5   # through the sandbox's master, every 5 s

Exit status: 0 when everything is as it should be, 1 when anything is listed under "problems".
"""


@click.command(epilog=EPILOG)
@click.option("--cluster", "cluster", metavar="NAME", help="This cluster only.")
@json_option
@click.option(
    "--watch", type=click.FloatRange(min=1), metavar="SECONDS", default=None, help="Refresh every SECONDS, until ^C."
)
@click.option("--sandbox", "in_sandbox", is_flag=True, help="Ask the sandbox's master.")
def status(cluster: str | None, as_json: bool, watch: float | None, in_sandbox: bool) -> None:
    """Each cluster's members as Patroni sees them (role, state, timeline, lag), the VIP's holder,
    each service's healthy backends (every member's HAProxy, through Prometheus), each exporter's
    scrape health and the firing alerts. Gathered on the master by the pigsalt.status runner."""
    runner: orch.Runner = _sandbox_runner if in_sandbox else orch.local_runner
    argv = ["salt-run", "--out=json", "pigsalt.status"] + ([f"cluster={cluster}"] if cluster else [])
    while True:
        summary = st.summarize(_runner_json(runner, argv), only=cluster)
        found = st.problems(summary)
        if as_json:
            text = json.dumps({**summary, "problems": found}, indent=2)
        else:
            listed = "".join(f"\n  {p}" for p in found)
            text = st.render(summary) + (f"\nproblems: {len(found)}{listed}" if found else "\nproblems: none")
        if watch is None:
            click.echo(text)
            raise SystemExit(1 if found else 0)
        click.clear()
        click.echo(f"{time.strftime('%H:%M:%S')}  every {watch:g} s\n{text}")
        time.sleep(watch)
