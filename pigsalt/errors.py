"""Errors that library code raises for the user to fix.

``PigsaltError`` is a ``click.ClickException`` so that the CLI prints it as one line
("Error: ...") and exits with code 2, without a traceback. Library code raises it but
never prints.
"""

from __future__ import annotations

import click


class PigsaltError(click.ClickException):
    """A problem the user can fix: bad input, a missing file, an unreachable node."""

    exit_code = 2
