"""Pigsty's schedule lines (``pg_crontab``, ``node_crontab``) as systemd timers.

Pigsty writes crontab lines: ``pg_crontab`` for the database superuser's crontab
(``'00 01 * * * /pg/bin/pg-backup full'``), ``node_crontab`` for ``/etc/crontab``, with a user
field (``'00 01 * * * postgres /pg/bin/pg-backup full'``). pigsalt's nodes have no cron: each line
becomes a timer whose ``OnCalendar=`` fires when cron would, and a service that runs the command
as the user with cron's environment (``/bin/sh``, the user's home, cron's ``PATH``).

Each field takes what Debian's cron takes: ``*``, numbers, ranges ``a-b``, steps ``*/n`` and
``a-b/n``, lists, and English names of months and weekdays; weekday 7 is Sunday. The nicknames
``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``, ``@yearly`` (``@annually``)
are known. When both the day of the month and the weekday are restricted, cron runs on either:
the timer gets one ``OnCalendar=`` line for each. Refused with the reason: ``@reboot`` (a timer
fires on a calendar), environment lines (``MAILTO=``), and ``%`` in a command (cron turns it
into a newline and standard input; write a script instead).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import Any

from pigsalt.inventory.schema import Node, Problem

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
SYSTEMD_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# (name, lowest, highest, names) of the five fields.
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("weekday", 0, 7, WEEKDAYS),
)
_USER = re.compile(r"[a-z_][a-z0-9_-]*\$?")


class CronError(ValueError):
    """A line cron would not take, or pigsalt cannot schedule: the message says which part."""


@dataclass(frozen=True)
class Entry:
    """One schedule line: when (``calendar``: systemd ``OnCalendar=`` values, any of which
    fires), who (``user``) and what (``command``, for ``/bin/sh -c``)."""

    line: str
    calendar: tuple[str, ...]
    user: str
    command: str
    spec: str  # the five time fields (or the nickname) as written

    @property
    def unit(self) -> str:
        """A name for its timer and service, stable while the line stays the same."""
        return hashlib.sha256(f"{self.user}\0{self.line}".encode()).hexdigest()[:10]

    def as_pillar(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "line": self.line,
            "calendar": list(self.calendar),
            "user": self.user,
            "command": self.command,
        }


def _number(text: str, low: int, high: int, names: tuple[str, ...], field: str) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if field == "month" else 0)
    if not text.isdigit():
        raise CronError(f"{field} {text!r} is not a number{' or a name' if names else ''}")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field} {value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, names: tuple[str, ...], field: str) -> set[int] | None:
    """The values ``text`` selects; None for ``*`` (every value)."""
    if text == "*":
        return None
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field} step {step_text!r} is not a positive number")
            step = int(step_text)
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _number(a, low, high, names, field), _number(b, low, high, names, field)
            if first > last:
                raise CronError(f"{field} range {span!r} runs backwards")
        else:
            first = _number(span, low, high, names, field)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if field == "weekday" and 7 in values:
        values = (values - {7}) | {0}
    return values


def _render(values: set[int] | None, width: int = 2) -> str:
    return "*" if values is None else ",".join(f"{v:0{width}d}" for v in sorted(values))


def _fields(spec: str) -> tuple[set[int] | None, ...]:
    """The values each of the five fields of ``spec`` (or a nickname) selects; None for ``*``."""
    parts = NICKNAMES.get(spec.strip(), spec).split()
    if len(parts) != len(FIELDS):
        raise CronError(f"{len(parts)} time fields, cron has {len(FIELDS)} (minute hour day-of-month month weekday)")
    return tuple(_field(p, lo, hi, names, f) for p, (f, lo, hi, names) in zip(parts, FIELDS, strict=True))


def _either(spec: str) -> bool:
    """cron's rule: with the day of the month and the weekday both restricted, either one fires;
    a field that starts with ``*`` (``*/2`` too, as Debian's cron reads it) leaves it to the other."""
    parts = NICKNAMES.get(spec.strip(), spec).split()
    return not parts[2].startswith("*") and not parts[4].startswith("*")


def calendar(spec: str) -> tuple[str, ...]:
    """The ``OnCalendar=`` values of the five time fields ``spec`` (or a nickname)."""
    minute, hour, dom, month, dow = _fields(spec)
    clock = f"{_render(hour)}:{_render(minute)}:00"
    if minute is None and hour is None:
        clock = "*:*:00"

    def when(days: set[int] | None, weekdays: set[int] | None) -> str:
        prefix = ",".join(SYSTEMD_WEEKDAYS[d] for d in sorted(weekdays)) + " " if weekdays is not None else ""
        return f"{prefix}*-{_render(month)}-{_render(days)} {clock}"

    if _either(spec):
        return (when(dom, None), when(None, dow))
    return (when(dom, dow),)


def parse(line: str, user: str | None = None) -> Entry:
    """One crontab line: ``user`` given (``pg_crontab``: the dbsu's crontab), or read from the
    sixth field (``node_crontab``: ``/etc/crontab``'s format)."""
    text = line.strip()
    if not text:
        raise CronError("an empty line")
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", text):
        raise CronError("an environment line (NAME=value): pigsalt runs each command with cron's environment")
    if text.startswith("@reboot"):
        raise CronError("@reboot: a timer fires on a calendar; make the command a systemd service instead")
    if text.startswith("@"):
        nick, _, rest = text.partition(" ")
        if nick not in NICKNAMES:
            raise CronError(f"{nick} is not one of {', '.join(NICKNAMES)}")
        spec, words = nick, rest.split(None, 1) if user is None else [rest]
    else:
        fields = text.split(None, 5 if user is not None else 6)
        if len(fields) < (6 if user is not None else 7):
            needed = "five time fields and a command" if user is not None else "five time fields, a user and a command"
            raise CronError(f"cron needs {needed}")
        spec, words = " ".join(fields[:5]), fields[5:]
    if user is None:
        if len(words) < 2:
            raise CronError("a node_crontab line needs a user and a command after the time")
        user, command = words[0], words[1]
        if not _USER.fullmatch(user):
            raise CronError(f"{user!r} is not a user name")
    else:
        command = words[0] if words else ""
    command = command.strip()
    if not command:
        raise CronError("no command")
    if "%" in command:
        raise CronError("a % in the command (cron makes it a newline): put the command in a script")
    return Entry(text, calendar(spec), user, command, spec)


@dataclass(frozen=True)
class CronLine(Node):
    """A crontab line pigsalt can schedule; ``with_user``: ``/etc/crontab``'s format."""

    with_user: bool = False

    def check(self, value: Any, path: str, out: list[Problem]) -> None:
        if not isinstance(value, str):
            out.append(Problem(path, f"must be a crontab line (a string), not {type(value).__name__}"))
            return
        try:
            parse(value, None if self.with_user else "postgres")
        except CronError as err:
            out.append(Problem(path, f"{value!r}: {err}"))

    def describe(self) -> str:
        return "crontab line" + (" with a user (/etc/crontab)" if self.with_user else "")


def longest_gap(line: str, user: str | None = "postgres", start: datetime.date = datetime.date(2024, 1, 1)) -> float:
    """The longest time, in seconds, between two firings of ``line``'s schedule (what a "backup
    too old" alert waits for), over the 400 days from ``start`` (cron's either-rule included;
    a fixed start keeps the pillar the same from one run to the next)."""
    spec = parse(line, user).spec
    minute, hour, dom, month, dow = _fields(spec)
    either = _either(spec)
    minutes = sorted(minute if minute is not None else range(60))
    hours = sorted(hour if hour is not None else range(24))
    day_times = [h * 3600 + m * 60 for h in hours for m in minutes]
    inside = max((b - a for a, b in itertools.pairwise(day_times)), default=0)
    days: list[int] = []
    for offset in range(400):
        day = start + datetime.timedelta(days=offset)
        weekday = (day.weekday() + 1) % 7  # cron: 0 is Sunday
        by_dom = dom is None or day.day in dom
        by_dow = dow is None or weekday in dow
        if (month is None or day.month in month) and ((by_dom or by_dow) if either else (by_dom and by_dow)):
            days.append(offset)
    # Within a day the times' own gaps; from one firing day to the next, its last to the first.
    gaps = [(b - a) * 86400 + day_times[0] - day_times[-1] for a, b in itertools.pairwise(days)]
    return float(max([inside, *gaps]))
