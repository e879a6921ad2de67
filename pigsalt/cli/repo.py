"""``pigsalt repo``: build and inspect the offline repository (Debian packages + Python wheels)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pigsalt.cli.options import json_option
from pigsalt.repo import DEFAULT_REPO_DIR, build_repo, repo_status, write_tarball

F = TypeVar("F", bound=Callable[..., Any])


def dest_option(func: F) -> F:
    """``--dest DIR``: where the repository lives."""
    return click.option(
        "--dest",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_REPO_DIR,
        show_default=True,
        help="Repository directory (served as-is at http://repo.pigsty/).",
    )(func)


@click.group(
    epilog="Examples:\n\n\b\n  pigsalt repo build --tarball pigsalt-repo.tar.gz\n  pigsalt repo status",
)
def repo() -> None:
    """The offline repository: every .deb and wheel the nodes install, signed, in one tree."""


@repo.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  pigsalt repo build\n"
        "  pigsalt repo build --tarball /tmp/pigsalt-repo.tar.gz\n"
        "  pigsalt repo build --dest /srv/pigsalt/repo --force"
    ),
)
@dest_option
@click.option(
    "--tarball",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also pack the repository as this .tar.gz (extract with: tar -xzf FILE -C /var/lib/pigsalt).",
)
@click.option("--force", is_flag=True, help="Replace --dest even when it holds something else than a repository.")
def build(dest: Path, tarball: Path | None, force: bool) -> None:
    """Download, index and sign the repository (needs root, a Debian mirror and PyPI).

    Every Debian package of the recipe is fetched with its whole dependency closure; the
    wheels of Salt, Patroni, psycopg and pigsalt are built with Debian's python3. A rebuild
    re-resolves everything, so it picks up the mirror's security updates.
    """
    info = build_repo(dest=dest, progress=_echo, force=force)
    if tarball is not None:
        write_tarball(info.path, tarball, progress=_echo)
    click.echo(
        "apt:     deb [signed-by=/etc/apt/keyrings/pigsalt-archive-keyring.gpg] http://repo.pigsty/apt ./"
        f"  ({info.apt_dir})"
    )
    click.echo(f"pypi:    pip install --no-index --find-links {info.pypi_dir} ...")
    click.echo(f"keyring: {info.keyring} (key {info.key_fingerprint})")


@repo.command(
    epilog="Examples:\n\n\b\n  pigsalt repo status\n  pigsalt repo status --dest /srv/pigsalt/repo --json",
)
@dest_option
@json_option
def status(dest: Path, as_json: bool) -> None:
    """Show what the repository holds; exit 1 when it is missing, incomplete or stale."""
    state = repo_status(dest)
    if as_json:
        payload = {
            "path": str(state.path),
            "up_to_date": state.up_to_date,
            "signature_ok": state.signature_ok,
            "current_recipe_hash": state.current_hash,
            "problems": list(state.problems),
            "manifest": state.manifest,
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    elif state.info is None:
        click.echo(f"{state.path}: no repository (run `pigsalt repo build`)")
    else:
        info, manifest = state.info, state.manifest
        apt, pypi = manifest.get("apt", {}), manifest.get("pypi", {})
        if state.current_hash is None:
            freshness = "unknown (no pigsalt source checkout here)"
        elif state.current_hash == info.recipe_hash:
            freshness = "current"
        else:
            freshness = "stale: the recipe changed, run `pigsalt repo build`"
        signature = {True: "valid", False: "INVALID", None: "not checked"}[state.signature_ok]
        lines = [
            f"repository: {info.path}",
            f"built:      {info.built_at} in {manifest.get('build_seconds', '?')} s "
            f"(pigsalt {manifest.get('pigsalt_version', '?')}, Debian {manifest.get('release', '?')} "
            f"{manifest.get('architecture', '?')}, Python {manifest.get('python_version', '?')})",
            f"recipe:     {info.recipe_hash[:16]} ({freshness})",
            f"apt:        {apt.get('count', 0)} debs, {apt.get('bytes', 0) / 1e6:.0f} MB "
            f"({len(info.requested)} requested + dependencies)",
            f"pypi:       {pypi.get('count', 0)} wheels, {pypi.get('bytes', 0) / 1e6:.0f} MB (salt "
            f"{manifest.get('salt_version', '?')})",
            f"signature:  {signature} (key {info.key_fingerprint})",
            f"total:      {info.total_bytes / 1e6:.0f} MB",
        ]
        lines += [f"problem:    {problem}" for problem in state.problems]
        click.echo("\n".join(lines))
    if not state.up_to_date:
        raise SystemExit(1)


def _echo(message: str) -> None:
    click.echo(message, err=True)
