"""The one way minion-side code runs ``psql``: argument lists, a timeout on every call, SQL on stdin.

Every caller goes through ``Psql``: the Salt states and modules with ``salt_runner`` (Salt's
``cmd.run_all`` as the database superuser), the Patroni callback and the Pgbouncer exporter with
``local`` (a subprocess as the user they already run as). Both connect over the Unix socket with
peer authentication, so no password travels; SQL goes on standard input, never on the command
line (the Pgbouncer admin console takes its fixed commands, checked by
``pigsalt.agent.pgbouncer.check_command``, with ``-c``: they hold no secret). ``--no-password``
makes psql fail at once rather than wait for a password nobody will type.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pigsalt.agent import AgentError

__all__ = [
    "CANNOT_CONNECT",
    "MAINTENANCE_DB",
    "SOCKET_DIR",
    "TIMEOUT",
    "Done",
    "Psql",
    "PsqlError",
    "Run",
    "console_argv",
    "local",
    "salt_runner",
    "script_argv",
]

SOCKET_DIR = "/var/run/postgresql"
MAINTENANCE_DB = "postgres"
TIMEOUT = 60.0
CANNOT_CONNECT = 2  # psql's exit status when the server does not answer
_NOT_INSTALLED = "psql is not installed (or not on PATH)"


class Done(NamedTuple):
    """What one psql run gave back."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """psql's complaint, for a message: its stderr, or the exit status. Never stdout: a read of
        ``pg_authid`` prints password verifiers there."""
        return self.stderr.strip() or f"psql exited {self.returncode}"


class PsqlError(AgentError):
    """psql could not run, ran out of time, or exited non-zero; ``detail`` is why, unprefixed."""

    def __init__(self, message: str, detail: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.returncode = returncode


# Runs one command line (stdin: a script, or None for nothing) within ``timeout`` seconds.
# Raises ``PsqlError`` only when psql could not run or did not finish; any exit status is a Done.
Run = Callable[[Sequence[str], "str | None", float], Done]


def local(argv: Sequence[str], stdin: str | None, timeout: float) -> Done:
    """``Run`` as a subprocess of this process, as its user (the Patroni callback, the exporter)."""
    try:
        if stdin is None:
            proc = subprocess.run(
                list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
            )
        else:
            proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise PsqlError(_NOT_INSTALLED, _NOT_INSTALLED) from None
    except subprocess.TimeoutExpired:
        raise PsqlError(f"no answer within {timeout:g} s", f"no answer within {timeout:g} s") from None
    return Done(proc.returncode, proc.stdout, proc.stderr)


def local_as(user: str) -> Run:
    """``Run`` as a subprocess of this process (root) as ``user`` (``runuser``): the dbsu, whom
    peer authentication on the socket lets in."""

    def run(argv: Sequence[str], stdin: str | None, timeout: float) -> Done:
        return local(["runuser", "-u", user, "--", *argv], stdin, timeout)

    return run


def salt_runner(run_all: Callable[..., Any], runas: str) -> Run:
    """``Run`` through Salt's ``cmd.run_all`` as ``runas``, with nothing of it in the minion's log."""

    def run(argv: Sequence[str], stdin: str | None, timeout: float) -> Done:
        kwargs: dict[str, Any] = {"runas": runas, "python_shell": False, "timeout": timeout, "output_loglevel": "quiet"}
        if stdin is not None:
            kwargs["stdin"] = stdin
        done = run_all(list(argv), **kwargs)
        return Done(int(done["retcode"]), str(done.get("stdout") or ""), str(done.get("stderr") or ""))

    return run


def script_argv(dbname: str, port: int = 5432, socket_dir: str = SOCKET_DIR) -> list[str]:
    """psql reading a script on stdin: unaligned rows, no header, stop at the first error."""
    return [
        "psql",
        "--no-password",
        "--no-psqlrc",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        socket_dir,
        "-p",
        str(port),
        "-d",
        dbname,
    ]


def console_argv(command: str, *, port: int, user: str, socket_dir: str = SOCKET_DIR) -> list[str]:
    """psql running one Pgbouncer admin ``command``, the answer as CSV with a header line."""
    return [
        "psql",
        "--no-password",
        "--no-psqlrc",
        "--csv",
        "-h",
        socket_dir,
        "-p",
        str(port),
        "-U",
        user,
        "-d",
        "pgbouncer",
        "-c",
        command,
    ]


@dataclass(frozen=True)
class Psql:
    """psql against the server on ``port`` (Unix socket in ``socket_dir``), each call run by ``run``
    and given ``timeout`` seconds."""

    run: Run
    port: int = 5432
    socket_dir: str = SOCKET_DIR
    timeout: float = TIMEOUT

    def script(self, sql: str, dbname: str = MAINTENANCE_DB) -> Done:
        """Run ``sql`` in ``dbname``; whatever psql exited with (callers that tell exit statuses apart)."""
        return self.run(script_argv(dbname, int(self.port), self.socket_dir), sql, self.timeout)

    def query(self, sql: str, dbname: str = MAINTENANCE_DB) -> str:
        """Run ``sql`` in ``dbname``; its standard output, or ``PsqlError`` with psql's stderr."""
        done = self.script(sql, dbname)
        if done.returncode != 0:
            raise PsqlError(done.error, done.error, done.returncode)
        return done.stdout

    def console(self, command: str, user: str) -> str:
        """Run one Pgbouncer admin ``command`` as ``user``; psql's CSV, or ``PsqlError`` naming the call
        (its ``detail`` is psql's stderr as it is, the message has it on one line for a log)."""
        argv = console_argv(command, port=int(self.port), user=user, socket_dir=self.socket_dir)
        what = f"psql {command!r} on {self.socket_dir} port {self.port} as {user}"
        try:
            done = self.run(argv, None, self.timeout)
        except PsqlError as err:
            raise PsqlError(f"{what}: {err.detail}", err.detail) from None
        if done.returncode != 0:
            raise PsqlError(f"{what}: {' '.join(done.error.split())}", done.error, done.returncode)
        return done.stdout
