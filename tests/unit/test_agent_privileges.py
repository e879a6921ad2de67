"""pigsalt.agent.privileges: grant lines to ACL letters, and what a database lacks."""

from __future__ import annotations

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent.privileges import Grant, missing
from pigsalt.inventory.params import DEFAULT_PRIVILEGES


def test_every_default_line_parses():
    grants = [Grant.parse(line) for line in DEFAULT_PRIVILEGES]
    assert {(g.objtype, g.grantee, g.letters) for g in grants} >= {
        ("r", "dbrole_readonly", "r"),
        ("n", "dbrole_admin", "C"),
    }


def test_all_expands_to_what_the_object_kind_has():
    assert Grant.parse("GRANT ALL ON TABLES TO app").letters == "".join(sorted("arwdDxt"))
    assert Grant.parse("GRANT ALL ON SEQUENCES TO app").letters == "".join(sorted("rwU"))


@pytest.mark.parametrize(
    "line", ["GRANT SELECT ON TABLE TO x", "GRANT USAGE ON FUNCTIONS TO x", "REVOKE SELECT ON TABLES FROM x"]
)
def test_bad_lines_are_refused(line: str):
    with pytest.raises(AgentError, match="default privilege"):
        Grant.parse(line)


def test_missing_compares_letter_by_letter_and_reads_quoted_grantees():
    grants = [Grant.parse("GRANT SELECT, INSERT ON TABLES TO Mixed_Case")]
    rows = [{"owner": "postgres", "objtype": "r", "acl": ['"Mixed_Case"=r/postgres']}]
    assert missing(rows, ["postgres"], grants) == ["FOR ROLE postgres GRANT SELECT, INSERT ON TABLES TO Mixed_Case"]
    rows[0]["acl"] = ['"Mixed_Case"=ar/postgres']
    assert missing(rows, ["postgres"], grants) == []
