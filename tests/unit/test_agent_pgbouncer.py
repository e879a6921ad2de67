"""``pigsalt.agent.pgbouncer``: the psql command line, the CSV parsing and the command whitelist."""

from __future__ import annotations

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent.pgbouncer import check_command, parse_csv

# psql --csv of SHOW POOLS on Pgbouncer 1.24.
POOLS_CSV = (
    "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,"
    "sv_active_cancel,sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode,"
    "load_balance_hosts\n"
    "meta,dbuser_meta,1,0,0,0,1,0,0,0,2,0,0,0,0,transaction,\n"
    "pgbouncer,pgbouncer,1,0,0,0,0,0,0,0,0,0,0,0,0,statement,\n"
)
POOLS_ROWS = [
    {
        "database": "meta",
        "user": "dbuser_meta",
        "cl_active": "1",
        "cl_waiting": "0",
        "cl_active_cancel_req": "0",
        "cl_waiting_cancel_req": "0",
        "sv_active": "1",
        "sv_active_cancel": "0",
        "sv_being_canceled": "0",
        "sv_idle": "0",
        "sv_used": "2",
        "sv_tested": "0",
        "sv_login": "0",
        "maxwait": "0",
        "maxwait_us": "0",
        "pool_mode": "transaction",
        "load_balance_hosts": "",
    },
    {
        "database": "pgbouncer",
        "user": "pgbouncer",
        "cl_active": "1",
        "cl_waiting": "0",
        "cl_active_cancel_req": "0",
        "cl_waiting_cancel_req": "0",
        "sv_active": "0",
        "sv_active_cancel": "0",
        "sv_being_canceled": "0",
        "sv_idle": "0",
        "sv_used": "0",
        "sv_tested": "0",
        "sv_login": "0",
        "maxwait": "0",
        "maxwait_us": "0",
        "pool_mode": "statement",
        "load_balance_hosts": "",
    },
]


def test_parse_csv():
    assert parse_csv(POOLS_CSV) == POOLS_ROWS


def test_parse_csv_quoted_values_and_empty_answers():
    text = 'key,value,default,changeable\nignore_startup_parameters,"extra_float_digits,options",,yes\n'
    assert parse_csv(text) == [
        {"key": "ignore_startup_parameters", "value": "extra_float_digits,options", "default": "", "changeable": "yes"}
    ]
    assert parse_csv("database,user\n") == []
    assert parse_csv("") == []


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("SHOW POOLS", "SHOW POOLS"),
        ("show pools;", "SHOW POOLS"),
        ("  SHOW   clients ", "SHOW CLIENTS"),
        ("SHOW USERS", "SHOW USERS"),
        ("SHOW DATABASES", "SHOW DATABASES"),
        ("SHOW SERVERS", "SHOW SERVERS"),
        ("SHOW STATS", "SHOW STATS"),
        ("SHOW CONFIG", "SHOW CONFIG"),
        ("reload", "RELOAD"),
        ("PAUSE", "PAUSE"),
        ("pause meta", "PAUSE meta"),
        ("RESUME", "RESUME"),
        ("RESUME app_db2", "RESUME app_db2"),
    ],
)
def test_check_command_accepts_the_commands_pigsalt_sends(given: str, canonical: str):
    assert check_command(given) == canonical


@pytest.mark.parametrize(
    "given",
    ["SHUTDOWN", "KILL meta", "SET default_pool_size = 1", "SHOW FDS", "SHOW", "", "RELOAD; SHUTDOWN", "PAUSE a b"],
)
def test_check_command_refuses_the_others(given: str):
    with pytest.raises(AgentError) as caught:
        check_command(given)
    assert str(caught.value) == (
        f"pgbouncer: {given.strip()!r} is not an admin command pigsalt sends "
        "(SHOW CLIENTS|CONFIG|DATABASES|POOLS|SERVERS|STATS|USERS, RELOAD, PAUSE [db], RESUME [db])"
    )


@pytest.mark.parametrize("database", ["meta;SHUTDOWN", "1db", "my-db", "'meta'", "mé"])
def test_check_command_refuses_odd_database_names(database: str):
    with pytest.raises(AgentError) as caught:
        check_command(f"PAUSE {database}")
    assert str(caught.value) == f"pgbouncer PAUSE: {database!r} is not a database name (letters, digits, _)"
