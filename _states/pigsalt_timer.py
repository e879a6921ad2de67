"""State module ``pigsalt_timer``: schedule lines (``pigsalt.inventory.cron``) as systemd timers,
and only those.

Each entry becomes ``<name>-<unit>.timer`` (its ``OnCalendar=`` lines) and ``<name>-<unit>.service``
(a oneshot that runs ``/etc/pigsalt/cron/<name>-<unit>.sh``, the line's command, as the entry's
user with cron's ``PATH``). Timers and services with the prefix ``name`` that no entry asks for
are stopped, disabled and removed, with their scripts: the inventory's list is the whole list.
With ``test=True`` it says what would change and changes nothing.

.. code-block:: yaml

    pgsql-crontab-timers:
      pigsalt_timer.managed:
        - name: pigsalt-cron-pg
        - entries: {{ pillar['pigsty']['pg']['crontab'] | json }}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from pigsalt import fileio
except ImportError as err:
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_timer"

UNIT_DIR = Path("/etc/systemd/system")
SCRIPT_DIR = Path("/etc/pigsalt/cron")
# Debian cron's environment for a job.
CRON_PATH = "/usr/bin:/bin"


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING is not None:
        return False, f"the pigsalt package is not importable in the minion's Python: {_MISSING}"
    return __virtualname__


def _systemctl(*args: str) -> dict[str, Any]:
    result: dict[str, Any] = __salt__["cmd.run_all"](
        ["systemctl", *args], python_shell=False, ignore_retcode=True, timeout=60
    )
    return result


def _unit_text(entry: Mapping[str, Any]) -> str:
    return str(entry["line"]).replace("%", "%%")


def _files(name: str, entry: Mapping[str, Any]) -> dict[Path, tuple[str, int]]:
    """Each file of one entry: its content and mode (every file is root's)."""
    unit = f"{name}-{entry['unit']}"
    said = _unit_text(entry)
    calendar = "".join(f"OnCalendar={when}\n" for when in entry["calendar"])
    timer = (
        f"# Managed by Salt (pigsalt_timer) from the inventory: {said}\n"
        f"[Unit]\nDescription=pigsalt schedule: {said}\n\n"
        f"[Timer]\n{calendar}AccuracySec=1s\n\n[Install]\nWantedBy=timers.target\n"
    )
    service = (
        f"# Managed by Salt (pigsalt_timer) from the inventory: {said}\n"
        f"[Unit]\nDescription=pigsalt schedule: {said}\n\n"
        f"[Service]\nType=oneshot\nUser={entry['user']}\nWorkingDirectory=~\n"
        f"Environment=PATH={CRON_PATH}\nExecStart={SCRIPT_DIR}/{unit}.sh\n"
    )
    script = f"#!/bin/sh\n# Managed by Salt (pigsalt_timer) from the inventory: {entry['line']}\n{entry['command']}\n"
    # Readable by everyone, as /etc/crontab is: the user need not exist yet (node_crontab runs
    # before pgsql creates postgres; systemd resolves User= when the timer fires).
    return {
        UNIT_DIR / f"{unit}.timer": (timer, 0o644),
        UNIT_DIR / f"{unit}.service": (service, 0o644),
        SCRIPT_DIR / f"{unit}.sh": (script, 0o755),
    }


def _differs(path: Path, content: str, mode: int) -> bool:
    try:
        st = path.stat()
        return path.read_text() != content or (st.st_mode & 0o7777) != mode or (st.st_uid, st.st_gid) != (0, 0)
    except OSError:
        return True


def _present(prefix: str) -> list[Path]:
    found = [*UNIT_DIR.glob(f"{prefix}-*.timer"), *UNIT_DIR.glob(f"{prefix}-*.service")]
    return sorted(found + (sorted(SCRIPT_DIR.glob(f"{prefix}-*.sh")) if SCRIPT_DIR.is_dir() else []))


def managed(name: str, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Exactly ``entries`` as timers named ``<name>-<unit>``, each enabled and waiting."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    wanted: dict[Path, tuple[str, int]] = {}
    for entry in entries:
        wanted.update(_files(name, entry))
    timers = sorted(f"{name}-{entry['unit']}.timer" for entry in entries)
    written = sorted(str(p) for p, spec in wanted.items() if _differs(p, *spec))
    stale = [p for p in _present(name) if p not in wanted]
    idle = [
        t
        for t in timers
        if _systemctl("is-active", "--quiet", t)["retcode"] != 0 or _systemctl("is-enabled", "--quiet", t)["retcode"]
    ]
    # An active timer whose calendar changed starts again from the new one.
    rewritten = [t for t in timers if str(UNIT_DIR / t) in written and t not in idle]
    changes = {k: v for k, v in (("written", written), ("removed", [str(p) for p in stale]), ("started", idle)) if v}
    if not changes:
        ret["comment"] = f"{len(timers)} timers as the inventory lists them"
        return ret
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment=f"{name}: timers would change")
        return ret
    for path in stale:
        if path.suffix == ".timer":
            _systemctl("disable", "--now", path.name)
        path.unlink(missing_ok=True)
    for path, spec in wanted.items():
        if str(path) in written:
            content, mode = spec
            fileio.write_bytes_atomic(path, content.encode(), mode, owner=(0, 0))
    _systemctl("daemon-reload")
    failed = []
    for timer in sorted(idle):
        done = _systemctl("enable", "--now", timer)
        if done["retcode"] != 0:
            failed.append(f"{timer}: {str(done.get('stderr') or '').strip().splitlines()[-1:]}")
    if rewritten:
        _systemctl("restart", *rewritten)
    ret["changes"] = changes
    if failed:
        ret.update(result=False, comment="; ".join(failed))
    else:
        ret["comment"] = f"{len(timers)} timers as the inventory lists them"
    return ret
