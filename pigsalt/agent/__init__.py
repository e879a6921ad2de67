"""Runtime helpers the execution and state modules call on each minion.

Standard library only: this package is installed into every minion's Salt environment, where
nothing but Salt and its own dependencies can be assumed. Each helper raises ``AgentError`` with
a message that names what was tried and why it failed; the Salt modules turn it into a
``CommandExecutionError``.
"""


class AgentError(Exception):
    """A runtime call failed: the message names what and why."""


def last_line(text: str) -> str:
    """The last non-blank line of a command's output (where the tools say why they failed)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
