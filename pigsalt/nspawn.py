"""One command in a Debian root with systemd-nspawn: no boot, no network, in a cgroup of its own.

How the sandbox builds its Salt layers and the repository compiles each release's sdists for
that release's Python. The host has no systemd to place nspawn: started with ``--keep-unit``, it runs in the
cgroup it was started from, and two nspawns started from one cgroup collide (docs/sandbox.md).
So each run gets a cgroup made for it, removed when the command is done.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pigsalt.errors import PigsaltError


def nspawn_argv(
    root: Path,
    command: Sequence[str],
    *,
    machine: str,
    binds: Sequence[tuple[Path, str]] = (),
    binds_ro: Sequence[tuple[Path, str]] = (),
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """``systemd-nspawn`` running ``command`` in ``root``: no boot, no network, no registration."""
    argv = [
        "systemd-nspawn",
        "--quiet",
        "--register=no",
        "--keep-unit",
        f"--machine={machine}",
        "--directory",
        str(root),
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--private-network",
        "--pipe",
    ]
    argv += [f"--setenv={key}={value}" for key, value in (env or {}).items()]
    argv += [f"--bind={src}:{dst}" for src, dst in binds]
    argv += [f"--bind-ro={src}:{dst}" for src, dst in binds_ro]
    return [*argv, "--", *command]


def run_in_root(
    root: Path,
    command: Sequence[str],
    *,
    machine: str,
    what: str,
    cgroup: str,
    cgroup_top: str,
    binds: Sequence[tuple[Path, str]] = (),
    binds_ro: Sequence[tuple[Path, str]] = (),
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 3600,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``root`` (see :func:`nspawn_argv`) in the cgroup ``cgroup_top/cgroup``.

    A failure is one PigsaltError line naming ``what`` and the command's last output line; with
    ``check=False`` a non-zero exit is returned to the caller, who reads the output.
    """
    # pigsalt.sandbox imports this module, and importing pigsalt.sandbox.system first runs that
    # package's __init__: imported at the top, it would find this module half made.
    from pigsalt.sandbox.system import create_cgroup, join_cgroups, remove_cgroups

    argv = nspawn_argv(root, command, machine=machine, binds=binds, binds_ro=binds_ro, env=env)
    cgroups = create_cgroup(cgroup, cgroup_top)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=join_cgroups(cgroups),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        raise PigsaltError(f"{what}: systemd-nspawn is not installed") from err
    except subprocess.TimeoutExpired as err:
        raise PigsaltError(f"{what}: gave up after {timeout:.0f} s") from err
    finally:
        remove_cgroups(cgroup, cgroup_top)
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise PigsaltError(f"{what} failed (exit {proc.returncode}): {lines[-1].strip() if lines else 'no output'}")
    return proc
