"""``pigsalt.inventory.cron``: Pigsty's crontab lines as systemd ``OnCalendar=`` values.

Each accepted spec is checked against two references on this machine: croniter (cron's own
rules, the day-of-month/weekday "either" included) gives the next firings, and systemd's own
parser (``systemd-analyze calendar``) gives the firings of the values pigsalt writes; both must
be the same times.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from croniter import croniter

from pigsalt.inventory import cron
from pigsalt.inventory.cron import CronError, CronLine
from pigsalt.inventory.schema import Problem

BASE = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
FIRINGS = 8
SPECS = (
    "00 01 * * *",
    "*/15 * * * *",
    "5 */6 * * *",
    "0 2 1-7 * sun",
    "0 2 1-7 * 0",
    "30 4 * jan-mar 1-5",
    "0 0 1-31/2 * 7",
    "0 3 1,15 * *",
    "10-20/5 1 * * mon,wed",
    "0 12 * * 5-7",
    "@hourly",
    "@weekly",
    "@monthly",
)


def _systemd_firings(calendars: tuple[str, ...]) -> list[datetime]:
    found: set[datetime] = set()
    for when in calendars:
        done = subprocess.run(
            ["systemd-analyze", "calendar", f"--iterations={FIRINGS}", "--base-time=2026-01-01 00:00:00 UTC", when],
            capture_output=True,
            text=True,
            env={"TZ": "UTC", "PATH": "/usr/bin:/bin", "SYSTEMD_COLORS": "0"},
            check=True,
        )
        for line in done.stdout.splitlines():
            text = line.strip()
            if text.startswith(("Next elapse:", "Iter. #")):
                stamp = text.split(":", 1)[1].strip()  # "Thu 2026-01-01 01:00:00 UTC"
                found.add(datetime.strptime(stamp, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=timezone.utc))
    return sorted(found)[:FIRINGS]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("spec", SPECS)
def test_the_timer_fires_when_cron_would(spec: str) -> None:
    calendars = cron.calendar(spec)
    expected_spec = cron.NICKNAMES.get(spec, spec)
    it = croniter(expected_spec, BASE)
    expected = [it.get_next(datetime) for _ in range(FIRINGS)]
    assert _systemd_firings(calendars) == expected, calendars


def test_pg_crontab_takes_the_user_given_and_node_crontab_the_sixth_field() -> None:
    entry = cron.parse("00 01 * * * /pg/bin/pg-backup full", "postgres")
    assert (entry.user, entry.command, entry.calendar) == ("postgres", "/pg/bin/pg-backup full", ("*-*-* 01:00:00",))
    entry = cron.parse("@daily  dba   /usr/local/bin/report --all")
    assert (entry.user, entry.command) == ("dba", "/usr/local/bin/report --all")
    assert cron.parse("0 1 * * * root a").unit != cron.parse("0 1 * * * root b").unit  # the unit follows the line


def test_a_day_field_written_with_a_star_makes_the_other_one_decide_as_debians_cron_does() -> None:
    """Debian's cron (entry.c) takes a field starting with ``*`` as unrestricted for the
    either-rule, ``*/2`` too: then both must match (croniter reads it otherwise)."""
    assert cron.calendar("0 0 */2 * 7") == ("Sun *-*-01,03,05,07,09,11,13,15,17,19,21,23,25,27,29,31 00:00:00",)
    assert len(cron.calendar("0 0 1-31/2 * 7")) == 2


@pytest.mark.parametrize(
    ("line", "user", "message"),
    [
        ("0 1 * * /x", "postgres", "cron needs five time fields and a command"),
        ("0 1 * * * /x", None, "cron needs five time fields, a user and a command"),
        ("@daily /x", None, "needs a user and a command after the time"),
        ("61 1 * * * /x", "postgres", "minute 61 is outside 0-59"),
        ("0 1 * foo * /x", "postgres", "month 'foo' is not a number or a name"),
        ("0 1 5-2 * * /x", "postgres", "runs backwards"),
        ("*/0 1 * * * /x", "postgres", "step '0' is not a positive number"),
        ("@reboot /x", "postgres", "@reboot"),
        ("@sometimes /x", "postgres", "@sometimes is not one of"),
        ("MAILTO=root", "postgres", "an environment line"),
        ("0 1 * * * date +%F", "postgres", "a % in the command"),
        ("0 1 * * * Root! /x", None, "'Root!' is not a user name"),
    ],
)
def test_a_line_cron_or_pigsalt_cannot_take_is_refused_saying_why(line: str, user: str | None, message: str) -> None:
    with pytest.raises(CronError, match=re.escape(message)):
        cron.parse(line, user)


def test_the_schema_names_the_item_and_the_problem() -> None:
    out: list[Problem] = []
    CronLine().check("0 25 * * * /pg/bin/pg-backup", "all.children.pg-test.vars.pg_crontab[0]", out)
    CronLine(with_user=True).check(42, "all.vars.node_crontab[1]", out)
    assert [(p.path, p.message) for p in out] == [
        ("all.children.pg-test.vars.pg_crontab[0]", "'0 25 * * * /pg/bin/pg-backup': hour 25 is outside 0-23"),
        ("all.vars.node_crontab[1]", "must be a crontab line (a string), not int"),
    ]


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.startswith("@")] + ["0 1 1 * *", "0 1 * * 0,3"])
def test_the_longest_gap_is_crons_over_a_year(spec: str) -> None:
    it = croniter(spec, BASE)
    times = [it.get_next(datetime) for _ in range(2000)]
    times = [t for t in times if (t - BASE).days < 400]
    expected = max((b - a).total_seconds() for a, b in itertools.pairwise(times))
    assert cron.longest_gap(f"{spec} /pg/bin/pg-backup full", start=BASE.date()) == expected
