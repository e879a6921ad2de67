"""``pigsalt restore``'s plan (``pigsalt.cli.restore.plan``) and the restore target's pgBackRest
options (``pigsalt.agent.restore.Target``): which backup a target starts from, what it is
refused for, and what pgBackRest is told."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from pigsalt.agent import AgentError
from pigsalt.agent import restore as restore_agent
from pigsalt.agent.restore import Target
from pigsalt.backup.info import Backup, Stanza
from pigsalt.cli import main
from pigsalt.cli.restore import plan
from pigsalt.errors import PigsaltError

FULL, LATER = "20261207-100000F", "20261207-120000F"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _backup(label: str, start: str, stop: str, error: bool = False) -> Backup:
    return Backup(
        label, "full", at(start), at(stop), 100, 10, "0000000100000000000000A0", "0000000100000000000000A1", None, error
    )


STANZA = Stanza(
    "pg-test",
    0,
    "ok",
    (
        _backup(FULL, "2026-12-07T10:00:00Z", "2026-12-07T10:05:00Z"),
        _backup(LATER, "2026-12-07T12:00:00Z", "2026-12-07T12:05:00Z"),
    ),
    "0000000100000000000000A0",
    "0000000100000000000000C0",
)
ARCHIVED = at("2026-12-07T13:00:00Z")


def test_a_time_is_replayed_from_the_newest_backup_that_stopped_before_it() -> None:
    found = plan(STANZA, ARCHIVED, at("2026-12-07T11:30:00+01:00"), None)
    assert found["restore"] == {"type": "time", "target": "2026-12-07 10:30:00.000000+00", "set": FULL}
    found = plan(STANZA, ARCHIVED, at("2026-12-07T12:30:00Z"), None)
    assert found["restore"]["set"] == LATER
    assert "from full backup 20261207-120000F" in found["says"]


def test_a_time_outside_the_window_is_refused_naming_it() -> None:
    with pytest.raises(PigsaltError, match=r"outside pg-test's window 2026-12-07T10:05:00Z \.\. 2026-12-07T13:00:00Z"):
        plan(STANZA, ARCHIVED, at("2026-12-07T13:00:01Z"), None)
    with pytest.raises(PigsaltError, match="outside"):
        plan(STANZA, ARCHIVED, at("2026-12-07T10:04:59Z"), None)


def test_latest_starts_from_the_newest_good_backup() -> None:
    broken = Stanza(
        STANZA.name,
        0,
        "ok",
        (STANZA.backups[0], _backup(LATER, "2026-12-07T12:00:00Z", "2026-12-07T12:05:00Z", error=True)),
        None,
        None,
    )
    assert plan(broken, ARCHIVED, None, None)["restore"] == {"type": "latest", "set": FULL}


def test_a_backup_with_errors_or_unknown_is_refused() -> None:
    broken = Stanza(
        STANZA.name, 0, "ok", (_backup(FULL, "2026-12-07T10:00:00Z", "2026-12-07T10:05:00Z", True),), None, None
    )
    with pytest.raises(PigsaltError, match="has errors"):
        plan(broken, ARCHIVED, None, FULL)
    with pytest.raises(PigsaltError, match="has no backup 20261207-110000F"):
        plan(STANZA, ARCHIVED, None, "20261207-110000F")
    assert plan(STANZA, ARCHIVED, None, FULL)["restore"] == {"type": "backup", "set": FULL}


def test_no_backup_means_nothing_to_restore() -> None:
    empty = Stanza("pg-test", 2, "no valid backups", (), None, None)
    with pytest.raises(PigsaltError, match="no complete backup"):
        plan(empty, None, None, None)


def test_targets_tell_pgbackrest_the_type_the_set_and_to_promote() -> None:
    assert Target("time", "2026-12-07 10:00:00+00", FULL).options() == [
        f"--set={FULL}",
        "--type=time",
        "--target=2026-12-07 10:00:00+00",
        "--target-action=promote",
    ]
    assert Target("backup", label=FULL).options() == [f"--set={FULL}", "--type=immediate", "--target-action=promote"]
    assert Target("latest").options() == ["--type=default"]


@pytest.mark.parametrize(
    ("kind", "when", "label", "message"),
    [
        ("yesterday", None, None, "not one of time, latest, backup"),
        ("time", None, None, "needs the time"),
        ("backup", None, None, "needs the backup's label"),
        ("backup", None, "../../etc", "not a pgBackRest backup label"),
    ],
)
def test_a_bad_target_is_refused(kind: str, when: str | None, label: str | None, message: str) -> None:
    with pytest.raises(AgentError, match=message):
        Target(kind, when, label)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --time, --latest, --backup (got none)"),
        (["--latest", "--backup", FULL], "(got --latest, --backup)"),
        (["--time", "yesterday"], "--time 'yesterday': not an ISO 8601 time"),
        (["--time", "2026-12-07 10:00:00"], "no time zone"),
    ],
)
def test_the_command_refuses_a_bad_target_before_asking_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["restore", "pg-test", *args])
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_postgres_started_for_the_recovery_cannot_speak_to_systemd_as_the_minion(monkeypatch: pytest.MonkeyPatch):
    """The minion's unit is Type=notify with NotifyAccess=all: a Postgres inheriting its
    NOTIFY_SOCKET said "STOPPING=1" at its shutdown and systemd stopped the minion mid-job."""
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    found = restore_agent._environment()
    assert "NOTIFY_SOCKET" not in found and found["PATH"] == "/usr/bin:/bin"


# --- what a failed restore leaves, by the step that failed first ------------------------------


def test_the_steps_are_the_orchestrations_in_order():
    import re

    from pigsalt.cli.restore import STEPS
    from tests.conftest import ROOT

    sls = (ROOT / "salt" / "pigsty" / "restore.sls").read_text()
    assert tuple(re.findall(r"^(pigsty-restore-[a-z-]+):$", sls, re.MULTILINE)) == STEPS


@pytest.mark.parametrize(
    ("failed", "says"),
    [
        (["pigsty-restore-archive-function: ERROR: [082]: WAL segment was not archived"], "nothing was stopped"),
        (
            [
                "pigsty-restore-primary-function: pgbackrest restore failed: access denied",
                "pigsty-restore-dcs-function: One or more requisite failed",
            ],
            "`salt -L node-2,node-3 service.start patroni` serves it again (a replica takes the lead); then "
            "`salt node-1 pgbackrest.clear_for_clone` and `salt node-1 service.start patroni`",
        ),
        (
            ["pigsty-restore-primary-state node-1 checks-pgsql-wait: not ready", "pigsty-restore-leader-state: x"],
            "the DCS was reset and node-1 holds the restored data; the replicas hold the data of before",
        ),
        (["pigsty-restore-leader-state node-2 checks-replication: not streaming"], "node-1 leads with the restored"),
        (["no JSON from salt-run: Traceback"], "`salt -L node-1,node-2,node-3 service.status patroni`"),
    ],
    ids=["archive", "primary-restore", "after-dcs-reset", "last-check", "unknown"],
)
def test_a_failed_restore_says_what_it_left_and_how_to_go_back(failed: list[str], says: str):
    from pigsalt.cli.restore import after_failure

    assert says in after_failure(failed, "pg-test", "node-1", ["node-2", "node-3"])


def test_a_single_member_cluster_is_restored_again_rather_than_served_from_nothing():
    from pigsalt.cli.restore import after_failure

    left = after_failure(["pigsty-restore-primary-function: failed"], "pg-one", "node-4", [])
    assert left.startswith("node-4 is stopped and its data directory may be half restored")
    assert "`pigsalt restore pg-one` again" in left
