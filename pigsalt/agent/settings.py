"""Configuration parameters set on a role or a database (``ALTER ROLE/DATABASE … SET``).

Roles and databases share this: the pillar's ``parameters`` mapping becomes ``Settings``, what
``pg_db_role_setting`` stores is parsed back, and the two are compared and turned into SQL.
Settings the inventory does not ask for are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pigsalt.agent import AgentError
from pigsalt.agent.quoting import literal

__all__ = ["LIST_SETTINGS", "Settings", "alter_sql", "diff", "from_pillar", "parse_setconfig"]

# (name, parts) pairs sorted by name: a list setting has one part per element.
Settings = tuple[tuple[str, tuple[str, ...]], ...]

# GUCs whose value is a list: Postgres quotes each element of ``SET x = 'a', 'b'`` as an identifier.
LIST_SETTINGS = frozenset(
    {
        "search_path",
        "temp_tablespaces",
        "local_preload_libraries",
        "session_preload_libraries",
        "shared_preload_libraries",
    }
)
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def _setting_name(name: str) -> str:
    if not _SETTING_NAME.fullmatch(name):
        raise AgentError(f"{name!r} is not a configuration parameter name")
    return name.lower()


def _setting_parts(name: str, value: object) -> list[str]:
    if isinstance(value, bool):
        return ["on" if value else "off"]
    if not isinstance(value, (str, int, float)):
        raise AgentError(f"parameter {name}: {value!r} is not a string, number or boolean")
    text = str(value)
    if name in LIST_SETTINGS:
        return [part.strip().strip('"') for part in text.split(",") if part.strip()]
    return [text]


def _setting_key(name: str, text: str) -> list[str]:
    """A stored ``pg_db_role_setting`` value in a form comparable with ``_setting_parts``."""
    if name in LIST_SETTINGS:
        return [part.strip().strip('"').replace('""', '"') for part in text.split(",") if part.strip()]
    return [text]


def from_pillar(raw: Mapping[str, object]) -> Settings:
    """The pillar's ``parameters`` mapping: names checked and lowercased, values as their parts."""
    return tuple(sorted((_setting_name(k), tuple(_setting_parts(_setting_name(k), v))) for k, v in raw.items()))


def parse_setconfig(items: Iterable[str] | None) -> dict[str, str]:
    """``pg_db_role_setting.setconfig`` (``["name=value", …]`` or null) as a mapping."""
    parsed: dict[str, str] = {}
    for item in items or ():
        key, _, value = item.partition("=")
        parsed[key] = value
    return parsed


def _changed_settings(current: Mapping[str, str], wanted: Settings) -> list[str]:
    """The names in ``wanted`` whose stored value (``current``) differs or is missing."""
    return [k for k, parts in wanted if k not in current or _setting_key(k, current[k]) != list(parts)]


def diff(current: Mapping[str, str], wanted: Settings) -> dict[str, Any]:
    """``{"parameters": {"old", "new"}}`` when a wanted setting differs; settings not asked for stay."""
    changed = _changed_settings(current, wanted)
    if not changed:
        return {}
    new = {**current, **{k: ", ".join(parts) for k, parts in wanted if k in changed}}
    return {"parameters": {"old": dict(sorted(current.items())), "new": dict(sorted(new.items()))}}


def alter_sql(target: str, wanted: Settings, diff: Mapping[str, Any]) -> list[str]:
    """``<target> SET name = 'value';`` for each setting ``diff`` reports as changed."""
    if "parameters" not in diff:
        return []
    changed = _changed_settings(diff["parameters"]["old"], wanted)
    return [f"{target} SET {k} = {', '.join(literal(part) for part in parts)};" for k, parts in wanted if k in changed]
