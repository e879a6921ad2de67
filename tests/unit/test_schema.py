from __future__ import annotations

from pigsalt.inventory.schema import Bool, Enum, Int, ListOf, Problem, Str, Struct, did_you_mean


def run(node, value):
    out: list[Problem] = []
    node.check(value, "x", out)
    return [str(p) for p in out]


def test_int_rejects_bool_and_reports_range():
    assert run(Int(min=1), True) == ["x: must be an integer, not boolean True"]
    assert run(Int(min=20, max=3600, unit="s"), 5) == ["x: 5 is out of range (20..3600 s)"]
    assert run(Int(min=1), 3) == []


def test_struct_reports_every_problem_with_paths_and_suggestions():
    node = Struct(fields={"name": Str(), "login": Bool()}, required=("name",), known=frozenset({"state"}))
    out: list[Problem] = []
    node.check({"login": "yes", "nmae": "x", "state": "present"}, "u", out)
    assert [str(p) for p in out] == [
        "u.name: is required",
        "u.login: must be true or false, not string 'yes'",
        "u.nmae: unknown key (did you mean 'name'?)",
        "u.state: is not implemented by pigsalt and is ignored",
    ]
    assert [p.warning for p in out] == [False, False, False, True]


def test_list_of_unique_names_the_first_occurrence():
    assert run(ListOf(Str(), unique=True), ["a", "b", "a"]) == ["x[2]: duplicate of x[0] ('a')"]


def test_enum_suggests_the_close_choice():
    assert run(Enum(("primary", "replica", "offline")), "replca") == [
        "x: 'replca' is not one of primary, replica, offline (did you mean 'replica'?)"
    ]


def test_did_you_mean_is_silent_when_nothing_is_close():
    assert did_you_mean("zzz", ["pg_rto", "pg_rpo"]) == ""


def test_a_secret_string_is_never_repeated_in_its_error() -> None:
    secret = Str(r"[a-z]+", "lowercase password", secret=True)
    out: list[Problem] = []
    secret.check("Hunter#2", "all.vars.haproxy_admin_password", out)
    secret.check(123456, "all.vars.haproxy_admin_password", out)
    assert [p.message for p in out] == [
        "the value is not a valid lowercase password",
        "must be a string, not integer",
    ]
    assert not any("Hunter" in p.message or "123456" in p.message for p in out)
