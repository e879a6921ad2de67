"""State module ``pigsalt_service``: Salt's ``service.running``, safe after a failed start.

systemd refuses to start a unit that failed more than its start limit allows (by default five
starts in ten seconds): "Start request repeated too quickly". A unit with ``Restart=on-failure``
that was started before its configuration existed uses that up within a second, and Salt's
``service.running`` then fails although the configuration is now right. This state clears a
failed unit's record (``systemctl reset-failed``) before it hands over to ``service.running``,
and when the start still fails it adds the unit's last journal lines to the comment, so the
cause is in the job's output instead of only on the node.

A unit that is already as wanted (loaded, active, enabled when ``enable``, its unit file not
changed on disk) is told from one ``systemctl show``: Salt's ``service.running`` asks systemd
four or five times, which a converged run pays for every service of every node.

.. code-block:: yaml

    pgbouncer-service-running:
      pigsalt_service.running:
        - name: pgbouncer
        - enable: True
        - watch:
          - file: pgbouncer-config-file-managed
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]
__states__: dict[str, Callable[..., dict[str, Any]]]

__virtualname__ = "pigsalt_service"

JOURNAL_LINES = 8
SETTLED_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")


def __virtual__() -> str | tuple[bool, str]:
    if "service.running" not in __states__:
        return False, "Salt's service state is not available on this minion"
    return __virtualname__


def _systemctl(*args: str) -> dict[str, Any]:
    run_all = __salt__["cmd.run_all"]
    result: dict[str, Any] = run_all(["systemctl", *args], python_shell=False, ignore_retcode=True, timeout=60)
    return result


def _reset_if_failed(name: str) -> str:
    """``reset-failed`` a unit systemd holds as failed; what was done, for the comment."""
    if __opts__["test"] or _systemctl("is-failed", "--quiet", name)["retcode"] != 0:
        return ""
    _systemctl("reset-failed", name)
    return f"{name} had failed before; its failure record was reset (systemctl reset-failed). "


def _journal(name: str) -> str:
    run_all = __salt__["cmd.run_all"]
    found = run_all(
        ["journalctl", "--unit", name, "--lines", str(JOURNAL_LINES), "--no-pager", "--output", "cat"],
        python_shell=False,
        ignore_retcode=True,
        timeout=60,
    )
    text = str(found.get("stdout", "")).strip()
    return f"\nlast journal lines of {name}:\n{text}" if text else ""


def _finish(name: str, note: str, ret: dict[str, Any]) -> dict[str, Any]:
    ret = dict(ret)
    ret["comment"] = note + str(ret.get("comment", ""))
    if ret.get("result") is False:
        ret["comment"] += _journal(name)
    return ret


def _settled(name: str, enable: bool | None) -> bool:
    """Whether the unit is loaded, active, enabled if ``enable``, and needs no daemon-reload."""
    found = _systemctl("show", "--property", ",".join(SETTLED_PROPERTIES), name)
    if found["retcode"] != 0:
        return False
    props = dict(line.partition("=")[::2] for line in str(found.get("stdout", "")).splitlines())
    file_state_ok = enable is None or props.get("UnitFileState") == ("enabled" if enable else "disabled")
    return (
        props.get("LoadState") == "loaded"
        and props.get("ActiveState") == "active"
        and props.get("NeedDaemonReload") == "no"
        and file_state_ok
    )


def running(name: str, enable: bool | None = None, **kwargs: Any) -> dict[str, Any]:
    """The unit is running (and enabled when ``enable``), as ``service.running`` with the same
    arguments; a unit systemd holds as failed gets ``reset-failed`` first."""
    if _settled(name, enable):
        done = "" if enable is None else " and enabled" if enable else " and disabled"
        return {"name": name, "changes": {}, "result": True, "comment": f"The service {name} is already running{done}"}
    note = _reset_if_failed(name)
    ret = __states__["service.running"](name, enable=enable, **kwargs)
    return _finish(name, note, ret)


def mod_watch(name: str, sfun: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """A watched state changed: restart or reload as ``service.mod_watch`` does, after a
    ``reset-failed`` of a unit systemd holds as failed."""
    note = _reset_if_failed(name)
    ret = __states__["service.mod_watch"](name, sfun="running" if sfun is None else sfun, **kwargs)
    return _finish(name, note, ret)
