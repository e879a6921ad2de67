"""``pigsalt sandbox``: real nodes with systemd on this machine."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import click

import pigsalt.sandbox as sb
from pigsalt.cli.options import inventory_option, resolve_inventory
from pigsalt.cli.pillar import DEFAULT_PILLAR_DIR
from pigsalt.errors import PigsaltError
from pigsalt.inventory.model import open_inventory
from pigsalt.master import default_project_dir
from pigsalt.pillar.build import build as build_pillar
from pigsalt.sandbox.layout import layout_from_inventory
from pigsalt.sandbox.system import require_root

EPILOG = """Examples:

\b
  pigsalt sandbox up
  pigsalt sandbox status
  pigsalt sandbox exec meta -- salt '*' test.ping
  pigsalt sandbox shell node-1
  pigsalt sandbox cut node-2 && pigsalt sandbox heal node-2
  pigsalt sandbox down
"""


class StepDisplay:
    """Progress lines with elapsed time; on a terminal the current step keeps ticking."""

    def __init__(self, stream: object = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._step_start = self._start
        self._message = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StepDisplay:
        if self._tty:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._finish_step()

    def __call__(self, message: str) -> None:
        with self._lock:
            self._finish_step()
            self._message = message
            self._step_start = time.monotonic()
            self._render(newline=not self._tty)

    def _line(self) -> str:
        total = time.monotonic() - self._start
        step = time.monotonic() - self._step_start
        return f"[{total:6.1f}s] {self._message} ({step:.0f}s)"

    def _render(self, newline: bool) -> None:
        if self._tty:
            click.echo("\r\033[K" + self._line(), nl=newline, err=True)
        elif newline:
            total = time.monotonic() - self._start
            click.echo(f"[{total:6.1f}s] {self._message}", err=True)

    def _finish_step(self) -> None:
        if self._message and self._tty:
            self._render(newline=True)
        self._message = ""

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._message:
                    self._render(newline=False)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"


@click.group(epilog=EPILOG)
def sandbox() -> None:
    """Real Debian nodes with systemd (systemd-nspawn) on this machine, run by Salt.

    Needs root. Builds an image per Debian release once, under /var/lib/pigsalt/sandbox.
    """


@sandbox.command(
    epilog="Examples:\n\n\b\n  pigsalt sandbox up                  # nodes of ./pigsty.yml\n"
    "  pigsalt sandbox up -i pillar/inventory\n  pigsalt sandbox up --project ~/src/pigsalt"
)
@inventory_option
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The pigsalt checkout whose salt/, pillar/, _modules/, _states/ the master uses.",
)
def up(inventory: str | None, project_dir: Path | None) -> None:
    """Compile the inventory into <project>/pillar/inventory, build the images if needed, boot one
    node per inventory node (named by `nodename`, on the Debian release its `node_os` names),
    start Salt and accept the minions."""
    require_root()
    inventory_path = resolve_inventory(inventory)
    project = project_dir or default_project_dir()
    if project is None:
        raise PigsaltError("cannot find the pigsalt project (salt/, pillar/); use --project")
    pillar_dir = project / DEFAULT_PILLAR_DIR
    inv, _ = open_inventory(inventory_path)
    if inventory_path.resolve() != pillar_dir.resolve():
        build_pillar(inventory_path, pillar_dir)
    layout = layout_from_inventory(inv)
    with StepDisplay() as display:
        result = sb.up(layout, project_dir=project, inventory_dir=pillar_dir, progress=display)
        elapsed = display.elapsed
    if result.already_up:
        click.echo("sandbox already up")
    else:
        click.echo(f"sandbox up in {elapsed:.1f} s: " + ", ".join(f"{n.name} {n.ip}" for n in result.layout.nodes))
    if not result.signed:
        click.echo(
            f"note: the nodes trust the APT repository without a signature ({result.repo_origin})",
            err=True,
        )


@sandbox.command(epilog="Examples:\n\n\b\n  pigsalt sandbox down\n  pigsalt sandbox down --remove-guard-route")
@click.option(
    "--remove-guard-route",
    is_flag=True,
    help="Also remove the 'unreachable' route for the sandbox subnet (kept by default, so that "
    "nothing sent to the subnet ever leaves this machine).",
)
def down(remove_guard_route: bool) -> None:
    """Stop and remove the nodes, mounts, cgroups, bridge and repository server.

    The guard route for the subnet stays unless --remove-guard-route."""
    with StepDisplay() as display:
        problems = sb.down(progress=display, remove_guard=remove_guard_route)
        elapsed = display.elapsed
    if problems:
        raise PigsaltError("sandbox not fully removed: " + "; ".join(problems))
    click.echo(f"sandbox down in {elapsed:.1f} s")


@sandbox.command(epilog="Examples:\n\n\b\n  pigsalt sandbox status\n  pigsalt sandbox status --no-salt")
@click.option("--salt/--no-salt", "ask_salt", default=True, help="Ask the master which minions answer.")
def status(ask_salt: bool) -> None:
    """Nodes, addresses, running or not, memory, and whether their minions answer."""
    st = sb.status(ask_salt=ask_salt)
    if not st.exists:
        click.echo("sandbox: down")
        for item in st.leftovers:
            click.echo(f"  leftover: {item} (`pigsalt sandbox down` removes it)")
        return
    master = {True: "running", False: "not running", None: "-"}[st.master]
    click.echo(
        f"sandbox: {st.phase}; salt-master {master}; repo server "
        f"{'running' if st.repo_server else 'NOT running'} ({st.repo_origin}); "
        f"guard route {'present' if st.guard_route else 'MISSING'}"
    )
    click.echo(f"{'NODE':<12} {'IP':<15} {'OS':<9} {'STATE':<10} {'MEMORY':>9}  MINION")
    for n in st.nodes:
        state = ("cut" if n.cut else "running") if n.running else "stopped"
        minion = {True: "answers", False: "silent", None: "-"}[n.minion]
        click.echo(f"{n.name:<12} {n.ip:<15} {n.os:<9} {state:<10} {_mib(n.memory):>9}  {minion}")
    click.echo(f"{'total':<12} {'':<15} {'':<9} {'':<10} {_mib(st.memory):>9}")


@sandbox.command(epilog="Examples:\n\n\b\n  pigsalt sandbox shell meta")
@click.argument("node")
def shell(node: str) -> None:
    """An interactive root shell in NODE."""
    sys.exit(sb.interactive(sb.leader(node), ["/bin/bash", "--login"]))


@sandbox.command(
    "exec",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n\b\n  pigsalt sandbox exec node-1 -- systemctl is-system-running\n"
    "  pigsalt sandbox exec meta -- salt '*' test.ping",
)
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NODE; its exit code is this command's."""
    sys.exit(sb.interactive(sb.leader(node), list(command)))


@sandbox.command(epilog="Examples:\n\n\b\n  pigsalt sandbox cut node-1")
@click.argument("node")
def cut(node: str) -> None:
    """Take NODE off the sandbox network (until `heal`)."""
    sb.cut(node)
    click.echo(f"{node}: cut off")


@sandbox.command(epilog="Examples:\n\n\b\n  pigsalt sandbox heal node-1")
@click.argument("node")
def heal(node: str) -> None:
    """Put NODE back on the sandbox network."""
    sb.heal(node)
    click.echo(f"{node}: back on the network")
