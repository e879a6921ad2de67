"""A small declarative schema, shaped like the YAML it checks.

Every node checks a value and appends ``Problem``s with the value's dotted path; nothing
stops at the first error, nothing opens a socket or a file.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: ``path: message``. Warnings do not stop a build; errors do."""

    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def join(path: str, key: object) -> str:
    """Dotted path of ``key`` below ``path`` (list indexes as ``[n]``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.75) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``word``, else ``''``."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


class Node:
    """A schema node. ``describe`` names the type for the inventory reference."""

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class AnyValue(Node):
    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        return None

    def describe(self) -> str:
        return "any"


class Bool(Node):
    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, bool):
            out.append(Problem(path, f"must be true or false, not {type_name(value)} {value!r}"))

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Int(Node):
    min: int | None = None
    max: int | None = None
    unit: str = ""

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Problem(path, f"must be an integer, not {type_name(value)} {value!r}"))
            return
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            out.append(Problem(path, f"{value} is out of range ({self.range_text()})"))

    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and self.max is not None:
            return f"{self.min}..{self.max}{unit}"
        if self.min is not None:
            return f">= {self.min}{unit}"
        return f"<= {self.max}{unit}"

    def describe(self) -> str:
        if self.min is None and self.max is None:
            return "int"
        return f"int ({self.range_text()})"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Str(Node):
    pattern: str | None = None
    hint: str = ""
    allow_empty: bool = False
    secret: bool = False  # a password: an error never repeats the value

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, str):
            shown = "" if self.secret else f" {value!r}"
            out.append(Problem(path, f"must be a string, not {type_name(value)}{shown}"))
            return
        if not value and not self.allow_empty:
            out.append(Problem(path, "must not be empty"))
            return
        if self.secret and _CONTROL.search(value):
            # A newline ends a .pgpass line and a Patroni or exporter setting: never a password.
            out.append(Problem(path, "the value holds a control character (a newline, a tab…): not in a password"))
            return
        if self.pattern and not re.fullmatch(self.pattern, value):
            shown = "the value" if self.secret else repr(value)
            out.append(Problem(path, f"{shown} is not a valid {self.hint or 'value'}"))

    def describe(self) -> str:
        return f"string ({self.hint})" if self.hint else "string"


class Date(Node):
    """A calendar date written ``YYYY-MM-DD`` that exists (no 2025-02-30)."""

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            out.append(Problem(path, f"{value!r} is not a valid date YYYY-MM-DD"))
            return
        try:
            datetime.date.fromisoformat(value)
        except ValueError as err:
            out.append(Problem(path, f"{value!r} is not a date: {err}"))

    def describe(self) -> str:
        return "string (date YYYY-MM-DD)"


@dataclass(frozen=True)
class Enum(Node):
    choices: tuple[Any, ...]

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if isinstance(value, bool) and not any(isinstance(c, bool) for c in self.choices):
            ok = False
        else:
            ok = value in self.choices
        if not ok:
            names = [str(c) for c in self.choices]
            hint = did_you_mean(value, names) if isinstance(value, str) else ""
            out.append(Problem(path, f"{value!r} is not one of {', '.join(names)}{hint}"))

    def describe(self) -> str:
        return " | ".join(str(c) for c in self.choices)


class IPv4(Node):
    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, str):
            out.append(Problem(path, f"must be an IPv4 address, not {type_name(value)} {value!r}"))
            return
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            out.append(Problem(path, f"{value!r} is not an IPv4 address"))

    def describe(self) -> str:
        return "IPv4 address"


class CIDR(Node):
    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, str):
            out.append(Problem(path, f"must be a CIDR network, not {type_name(value)} {value!r}"))
            return
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            out.append(Problem(path, f"{value!r} is not a CIDR network"))

    def describe(self) -> str:
        return "CIDR"


@dataclass(frozen=True)
class ListOf(Node):
    item: Node
    unique: bool = False

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, list):
            out.append(Problem(path, f"must be a list, not {type_name(value)}"))
            return
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            self.item.check(item, join(path, i), out)
            if self.unique and isinstance(item, (str, int)):
                key = str(item)
                if key in seen:
                    out.append(Problem(join(path, i), f"duplicate of {path}[{seen[key]}] ({item!r})"))
                seen.setdefault(key, i)

    def describe(self) -> str:
        return f"list of {self.item.describe()}"


@dataclass(frozen=True)
class MapOf(Node):
    value: Node
    key: Node = field(default_factory=lambda: Str())

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"must be a mapping, not {type_name(value)}"))
            return
        for k, v in value.items():
            self.key.check(k, join(path, k), out)
            self.value.check(v, join(path, k), out)

    def describe(self) -> str:
        return f"mapping of {self.value.describe()}"


@dataclass(frozen=True)
class OneOf(Node):
    """The first alternative whose ``accepts`` says yes checks the value."""

    alternatives: tuple[tuple[Callable[[Any], bool], Node], ...]
    expected: str

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        for accepts, node in self.alternatives:
            if accepts(value):
                node.check(value, path, out)
                return
        out.append(Problem(path, f"must be {self.expected}, not {type_name(value)} {value!r}"))

    def describe(self) -> str:
        return self.expected


@dataclass(frozen=True)
class Struct(Node):
    """A mapping with named fields.

    ``known`` lists field names of the upstream format that pigsalt accepts but does not
    implement: they give a warning, not an error.
    """

    fields: Mapping[str, Node]
    required: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()
    name: str = "mapping"

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"must be a {self.name}, not {type_name(value)} {value!r}"))
            return
        for key in self.required:
            if key not in value:
                out.append(Problem(join(path, key), "is required"))
        for key, item in value.items():
            sub = join(path, key)
            node = self.fields.get(key)
            if node is not None:
                node.check(item, sub, out)
            elif key in self.known:
                out.append(Problem(sub, "is not implemented by pigsalt and is ignored", warning=True))
            else:
                hint = did_you_mean(str(key), self.fields)
                out.append(Problem(sub, f"unknown key{hint}"))

    def describe(self) -> str:
        return self.name
