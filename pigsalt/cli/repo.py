"""``pigsalt repo``: build and inspect the offline repository (Debian packages + Python wheels)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pigsalt.cli.options import json_option
from pigsalt.errors import PigsaltError
from pigsalt.repo import (
    DEFAULT_REPO_DIR,
    RepoInfo,
    RepoStatus,
    add_packages,
    build_repo,
    check_wheel_lock,
    lock_repo,
    remove_packages,
    repo_status,
    write_tarball,
)
from pigsalt.repo.manifest import check_format, describe_changes, diff_manifests, read_manifest
from pigsalt.wheellock import LOCK_PATH

F = TypeVar("F", bound=Callable[..., Any])

#: Where the nodes keep the repository's keyring (the repo formula installs it there).
NODE_KEYRING = "/etc/apt/keyrings/pigsalt-archive-keyring.gpg"


def dest_option(func: F) -> F:
    """``--dest DIR``: where the repository lives."""
    return click.option(
        "--dest",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_REPO_DIR,
        show_default=True,
        help="Repository directory (served as-is at http://repo.pigsty/).",
    )(func)


def release_option(text: str) -> Callable[[F], F]:
    """``--release CODENAME``, repeatable, into ``releases``."""

    def decorate(func: F) -> F:
        return click.option("--release", "releases", multiple=True, metavar="CODENAME", help=text)(func)

    return decorate


@click.group(
    epilog="Examples:\n\n\b\n  pigsalt repo build --tarball pigsalt-repo.tar.gz\n  pigsalt repo status",
)
def repo() -> None:
    """The offline repository: every .deb and wheel the nodes install, signed, in one tree."""


@repo.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  pigsalt repo build\n"
        "  pigsalt repo build --release trixie\n"
        "  pigsalt repo build --tarball /tmp/pigsalt-repo.tar.gz\n"
        "  pigsalt repo build --dest /srv/pigsalt/repo --force"
    ),
)
@dest_option
@release_option(
    "A Debian release to (re)build, e.g. bookworm or trixie; repeatable. Default: every release of the recipe."
)
@click.option(
    "--tarball",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also pack the repository as this .tar.gz (extract with: tar -xzf FILE -C /var/lib/pigsalt).",
)
@click.option("--force", is_flag=True, help="Replace --dest even when it holds something else than a repository.")
def build(dest: Path, releases: tuple[str, ...], tarball: Path | None, force: bool) -> None:
    """Download, index and sign the repository (needs root, a Debian mirror and PyPI).

    For each release, every Debian package of the recipe is fetched with its whole dependency
    closure into apt/<codename>/; the wheels of Salt, Patroni, psycopg and pigsalt are the wheel
    lock's (pigsalt repo lock), for each release's Python. The releases asked for are rebuilt
    (picking up the mirror's security updates); the others the repository holds are kept when up
    to date. What changed since the previous build is printed, package by package.
    """
    before = _previous_manifest(dest)
    info = build_repo(dest=dest, releases=releases or None, progress=_echo, force=force)
    for line in describe_changes(diff_manifests(before, read_manifest(info.path) or {})):
        click.echo(line)
    if tarball is not None:
        write_tarball(info.path, tarball, progress=_echo)
    for codename in info.releases:
        click.echo(
            f"apt:     deb [signed-by={NODE_KEYRING}] http://repo.pigsty/apt/{codename}/ ./"
            f"  ({info.release_dir(codename)})"
        )
    pythons = ", ".join(sorted(set(info.python_versions.values())))
    click.echo(f"pypi:    pip install --no-index --find-links {info.pypi_dir} ...  (Python {pythons})")
    click.echo(f"keyring: {info.keyring} (key {info.key_fingerprint})")


@repo.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  pigsalt repo lock                # keep the locked versions the requirements still allow\n"
        "  pigsalt repo lock --upgrade      # the newest versions the requirements and constraints allow\n"
        "  pigsalt repo lock --check        # exit 1 when the lock disagrees with the recipe (no network)"
    ),
)
@click.option("--upgrade", is_flag=True, help="Resolve every version anew instead of keeping the ones the lock holds.")
@click.option(
    "--index-url",
    default=None,
    metavar="URL",
    help="The package index (https://) to resolve against and builds to download from. "
    "Default: the lock's, else https://pypi.org/simple.",
)
@click.option("--check", "check_only", is_flag=True, help="Only check the lock against the recipe; change nothing.")
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=LOCK_PATH,
    show_default=True,
    help="The lock to write (or check).",
)
def lock(upgrade: bool, index_url: str | None, check_only: bool, lock_file: Path) -> None:
    """Resolve the wheels of the offline repository into the wheel lock (no root needed).

    The recipe's pypi.requirements and pigsalt's install_requires are resolved under
    requirements/constraints.txt, for every Python the recipe's releases run, against the index
    over HTTPS; the lock holds each file with its SHA-256 (a wheel, or the sdist the build compiles
    in a root of the release). Builds fetch exactly these files, and the formulas install the
    Patroni it holds. Commit the file; review its diff like code.
    """
    if check_only:
        try:
            check_wheel_lock(lock_file)
        except PigsaltError as err:
            click.echo(err.message, err=True)
            raise SystemExit(1) from err
        click.echo(f"{lock_file}: matches the recipe, setup.cfg and requirements/constraints.txt")
        return
    locked, changes = lock_repo(lock_path=lock_file, index_url=index_url, upgrade=upgrade, progress=_echo)
    for part in locked.pythons:
        sdists = [f.file for f in part.install if not f.is_wheel]
        compiled = f", {len(sdists)} sdists compiled by the build: {', '.join(sdists)}" if sdists else ""
        click.echo(
            f"Python {part.python} ({part.platform}): {len(part.install)} files{compiled}; "
            f"{len(part.build)} to compile them"
        )
    click.echo("\n".join(changes) if changes else "no version changed")
    click.echo(f"written: {lock_file}")


@repo.command(
    epilog=(
        "Examples:\n\n\b\n"
        "  pigsalt repo add ./grafana_11.4.0_amd64.deb\n"
        "  pigsalt repo add --release trixie ./grafana_11.4.0_amd64.deb\n"
        "  salt-run state.orch pigsty.infra    # Grafana is installed on the meta nodes"
    ),
)
@dest_option
@release_option("A release of the repository to add them to; repeatable. Default: every release it holds.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def add(dest: Path, releases: tuple[str, ...], files: tuple[Path, ...]) -> None:
    """Add .deb files that Debian does not ship (Grafana, say) to the repository.

    For each release, what installing them needs is fetched from its mirror with them; the
    release is indexed and signed again. They are kept beside the repository (<dest>.added/) and
    added again by every rebuild. A file that is not a Debian package for this architecture, or a
    package the repository already holds from Debian, is refused and nothing changes.
    """
    added = add_packages(dest, files, releases=releases or None, progress=_echo)
    for codename, deps in added.items():
        with_deps = f" with {len(deps)} dependencies: {', '.join(deps)}" if deps else ""
        click.echo(f"{codename}: added {', '.join(p.name for p in files)}{with_deps}")


@repo.command(
    epilog="Examples:\n\n\b\n  pigsalt repo remove grafana\n  pigsalt repo remove --release trixie grafana",
)
@dest_option
@release_option("A release to remove them from; repeatable. Default: every release holding them.")
@click.argument("names", nargs=-1, required=True)
def remove(dest: Path, releases: tuple[str, ...], names: tuple[str, ...]) -> None:
    """Remove packages added with `pigsalt repo add`, by name.

    The dependencies they brought go with them unless another added package needs them. Each
    release holding them is indexed and signed again; nodes that installed them keep them
    (remove them there with apt).
    """
    removed = remove_packages(dest, names, releases=releases or None, progress=_echo)
    for codename, specs in removed.items():
        click.echo(f"{codename}: removed {', '.join(specs)}")


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
            "current_recipe_hashes": state.current_hashes,
            "problems": list(state.problems),
            "manifest": state.manifest,
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    elif state.info is None:
        click.echo("\n".join(state.problems))
    else:
        click.echo("\n".join(_status_lines(state, state.info)))
    if not state.up_to_date:
        raise SystemExit(1)


_FRESHNESS = {True: "current", False: "stale: the recipe changed", None: "unknown: no source checkout here"}


def _status_lines(state: RepoStatus, info: RepoInfo) -> list[str]:
    manifest = state.manifest
    pypi = manifest.get("pypi", {})
    signature = {True: "valid", False: "INVALID", None: "not checked"}[state.signature_ok]
    lines = [
        f"repository: {info.path}",
        f"built:      {info.built_at} in {manifest.get('build_seconds', '?')} s (pigsalt "
        f"{manifest.get('pigsalt_version', '?')}, {manifest.get('architecture', '?')}; "
        f"built then: {', '.join(manifest.get('built', [])) or '?'})",
    ]
    for codename in info.releases:
        entry = manifest["releases"][codename]
        apt = entry.get("apt", {})
        lines.append(
            f"{codename + ':':<11} {apt.get('count', 0)} debs, {apt.get('bytes', 0) / 1e6:.0f} MB "
            f"({len(info.requested[codename])} requested + dependencies), Python {entry.get('python_version', '?')}, "
            f"recipe {info.recipe_hashes[codename][:16]} ({_FRESHNESS[state.fresh(codename)]})"
        )
    lines += [
        f"pypi:       {pypi.get('count', 0)} wheels, {pypi.get('bytes', 0) / 1e6:.0f} MB (salt "
        f"{manifest.get('salt_version', '?')})",
        f"signature:  {signature} (key {info.key_fingerprint})",
        f"total:      {info.total_bytes / 1e6:.0f} MB",
    ]
    lines += [f"problem:    {problem}" for problem in state.problems]
    return lines


def _previous_manifest(dest: Path) -> dict[str, Any] | None:
    """The manifest of the repository a build replaces, when it is one this pigsalt reads."""
    try:
        manifest = read_manifest(dest) if dest.is_dir() else None
        if manifest is not None:
            check_format(dest, manifest)
        return manifest
    except PigsaltError:
        return None


def _echo(message: str) -> None:
    click.echo(message, err=True)
