"""A member's data directory brought back to a point in time, outside Patroni.

``restore`` runs ``pgbackrest restore --delta`` with the target, then ``recover`` starts
Postgres alone on the restored directory, reachable through a private socket directory only (no
TCP, no shared socket: no client, Pgbouncer or replica can reach it), waits until it has replayed
the archive up to the target and promoted, removes the recovery settings pgBackRest wrote into
``postgresql.auto.conf`` (a replica cloned later would copy them), and stops it cleanly. Patroni
then finds a shut-down primary's data directory and, with the cluster's keys gone from the DCS,
adopts it (``patroni.remove_cluster``).

``clear`` empties the data directory of a member that will be cloned again. Each refuses while
Postgres runs on the directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pigsalt.agent import AgentError, last_line, psql
from pigsalt.agent import pgbackrest as pgbr

KINDS = ("time", "latest", "backup")
# Where the lone recovering Postgres listens (its socket) and logs: nothing else uses it.
PRIVATE_DIR = "/run/pigsalt-restore"
# What pgBackRest writes for a restore, and nothing of Patroni's configuration.
RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_target",
    "recovery_target_time",
    "recovery_target_name",
    "recovery_target_xid",
    "recovery_target_lsn",
    "recovery_target_inclusive",
    "recovery_target_action",
    "recovery_target_timeline",
)
_LABEL = re.compile(r"^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$")


@dataclass(frozen=True)
class Target:
    """Where a restore stops: ``time`` (``at``, ISO 8601 with a zone, replaying from backup
    ``label``), ``latest`` (the end of the archive) or ``backup`` (``label``, consistent and no
    further)."""

    kind: str
    at: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AgentError(f"restore target: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "time" and not self.at:
            raise AgentError("restore target: a time target needs the time")
        if self.kind == "backup" and not self.label:
            raise AgentError("restore target: a backup target needs the backup's label")
        if self.label is not None and not _LABEL.match(self.label):
            raise AgentError(f"restore target: {self.label!r} is not a pgBackRest backup label")

    def options(self) -> list[str]:
        """pgBackRest's restore options for this target."""
        chosen = [f"--set={self.label}"] if self.label else []
        if self.kind == "time":
            return [*chosen, "--type=time", f"--target={self.at}", "--target-action=promote"]
        if self.kind == "backup":
            return [*chosen, "--type=immediate", "--target-action=promote"]
        return [*chosen, "--type=default"]


@dataclass(frozen=True)
class Instance:
    """This member's Postgres: data directory, binaries, the dbsu, the port it runs on."""

    data: str
    bin_dir: str
    user: str = "postgres"
    port: int = 5432


def running_pid(data: str) -> int | None:
    """The postmaster's pid when a Postgres runs on ``data`` (its ``postmaster.pid`` names a live
    process), else None."""
    try:
        first = (Path(data) / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _refuse_running(instance: Instance, what: str) -> None:
    pid = running_pid(instance.data)
    if pid is not None:
        raise AgentError(f"{what}: Postgres runs on {instance.data} (pid {pid}); stop Patroni first")


def _environment() -> dict[str, str]:
    """This process's environment without ``NOTIFY_SOCKET``: the minion's unit is ``Type=notify``
    with ``NotifyAccess=all``, and a Postgres started from here would tell systemd "STOPPING=1"
    on its shutdown as if it were the minion (systemd then stopped the minion mid-job)."""
    return {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}


def _as_user(instance: Instance, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["runuser", "-u", instance.user, "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=_environment(),
        )
    except subprocess.TimeoutExpired:
        raise AgentError(f"{Path(argv[0]).name}: no answer after {timeout:.0f} s") from None


def _private_dir(instance: Instance) -> Path:
    where = Path(PRIVATE_DIR)
    where.mkdir(mode=0o700, exist_ok=True)
    owner = pwd.getpwnam(instance.user)
    os.chown(where, owner.pw_uid, owner.pw_gid)
    where.chmod(0o700)
    return where


def _log_reason(log: Path) -> str:
    """The last FATAL/PANIC line of the recovery's log (else its last line)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    fatal = [line for line in lines if "FATAL:" in line or "PANIC:" in line]
    return (fatal[-1] if fatal else last_line("\n".join(lines))).strip()


def recover(instance: Instance, timeout: float = 3600) -> dict[str, Any]:
    """Start Postgres alone on the restored directory, wait until recovery ends and it promotes,
    drop the recovery settings, stop it cleanly: ``{"timeline", "lsn", "seconds"}``."""
    began = time.monotonic()
    private = _private_dir(instance)
    log = private / "postgres.log"
    log.unlink(missing_ok=True)
    pg_ctl = f"{instance.bin_dir}/pg_ctl"
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{private}' -c port={instance.port}"
        " -c logging_collector=off -c log_destination=stderr"
    )
    started = _as_user(instance, [pg_ctl, "-D", instance.data, "-l", str(log), "-W", "-o", options, "start"], 60)
    if started.returncode != 0:
        raise AgentError(f"pg_ctl start exited {started.returncode}: {last_line(started.stderr or started.stdout)}")
    client = psql.Psql(psql.local_as(instance.user), port=instance.port, socket_dir=str(private))
    deadline = time.monotonic() + timeout
    try:
        while True:
            if running_pid(instance.data) is None and time.monotonic() - began > 5:
                raise AgentError(f"recovery stopped: {_log_reason(log)}")
            done = client.script("SELECT pg_is_in_recovery()")
            if done.returncode == 0 and done.stdout.strip() == "f":
                break
            if time.monotonic() > deadline:
                raise AgentError(f"recovery not finished after {timeout:.0f} s: {_log_reason(log)}")
            time.sleep(1)
        resets = "".join(f"ALTER SYSTEM RESET {name};\n" for name in RECOVERY_SETTINGS)
        client.query(resets)
        row = client.query("CHECKPOINT; SELECT timeline_id, pg_current_wal_lsn() FROM pg_control_checkpoint()").strip()
        timeline, lsn = row.splitlines()[-1].split("|")
    finally:
        if running_pid(instance.data) is not None:
            stopped = _as_user(instance, [pg_ctl, "-D", instance.data, "-m", "fast", "-w", "-t", "300", "stop"], 330)
            if stopped.returncode != 0:
                raise AgentError(f"pg_ctl stop exited {stopped.returncode}: {last_line(stopped.stderr)}")
    return {"timeline": int(timeline), "lsn": lsn, "seconds": round(time.monotonic() - began, 1)}


def restore(stanza: pgbr.Stanza, instance: Instance, target: Target, timeout: float = 6 * 3600) -> dict[str, Any]:
    """Restore this member's data directory to ``target`` and recover it (``recover``):
    ``{"target", "restore_seconds", "timeline", "lsn", "seconds"}``. Refuses while Postgres runs."""
    _refuse_running(instance, "restore")
    began = time.monotonic()
    pgbr.run(stanza, ["--delta", *target.options(), "restore"], timeout)
    restored = time.monotonic() - began
    recovered = recover(instance, timeout)
    return {
        "target": {"kind": target.kind, "time": target.at, "label": target.label},
        "restore_seconds": round(restored, 1),
        **recovered,
        "seconds": round(time.monotonic() - began, 1),
    }


def clear(instance: Instance) -> dict[str, Any]:
    """Empty the data directory (it stays, with its owner and mode) so that Patroni clones this
    member again: ``{"removed": count}``. Refuses while Postgres runs."""
    _refuse_running(instance, "clear")
    data = Path(instance.data)
    removed = 0
    for entry in data.iterdir() if data.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed += 1
    return {"removed": removed}
