"""The SQL of ``pigsalt_hba`` and ``hba_follow``: have Postgres check its HBA file, then reload."""

from __future__ import annotations

from pigsalt.agent.quoting import PREAMBLE, query

__all__ = ["RELOAD_SQL", "read_hba_sql"]


def read_hba_sql() -> str:
    """A ``query`` of the server's ``hba_file`` and the errors Postgres finds in that file on disk now.

    ``pg_hba_file_rules`` parses the file afresh, so this checks a new file before any reload.
    """
    return query(
        "SELECT current_setting('hba_file') AS hba_file,\n"
        "       (SELECT coalesce(json_agg(e ORDER BY e.line_number), '[]')\n"
        "          FROM (SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL) e) AS errors"
    )


RELOAD_SQL = f"{PREAMBLE}SELECT pg_reload_conf();\n"
