"""Small helpers shared by the repository builder: commands, atomic writes, digests."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pigsalt.errors import PigsaltError

Progress = Callable[[str], None]


def say(progress: Progress | None, message: str) -> None:
    """Report a step through the caller's callback, if any."""
    if progress is not None:
        progress(message)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    what: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (an argument list) and return its output; a failure is one PigsaltError line.

    With ``check=False`` a non-zero exit is returned to the caller (who reads the output).
    """
    args = [os.fspath(part) for part in cmd]
    label = what or Path(args[0]).name
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        raise PigsaltError(f"{label}: {args[0]} is not installed") from err
    except subprocess.TimeoutExpired as err:
        raise PigsaltError(f"{label}: gave up after {timeout:.0f} s") from err
    if check and proc.returncode != 0:
        raise PigsaltError(f"{label} failed (exit {proc.returncode}): {last_line(proc.stderr or proc.stdout)}")
    return proc


def run_bytes(cmd: Sequence[str | os.PathLike[str]], *, what: str, timeout: float = 60) -> bytes:
    """Run a command whose output is binary; a failure is one PigsaltError line."""
    args = [os.fspath(part) for part in cmd]
    try:
        proc = subprocess.run(args, capture_output=True, check=False, timeout=timeout)
    except FileNotFoundError as err:
        raise PigsaltError(f"{what}: {args[0]} is not installed") from err
    except subprocess.TimeoutExpired as err:
        raise PigsaltError(f"{what}: gave up after {timeout:.0f} s") from err
    if proc.returncode != 0:
        message = last_line(proc.stderr.decode("utf-8", "replace"))
        raise PigsaltError(f"{what} failed (exit {proc.returncode}): {message}")
    return proc.stdout


def last_line(text: str) -> str:
    """The last meaningful line of a command's output (its error, usually)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "ERROR", "error:", "gpg: "))]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "no output"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_size(path: Path) -> int:
    """Total size in bytes of the regular files under ``path``."""
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())
