"""``pigsalt repo add``, for real: a package Debian does not ship, built here with dpkg-deb and
depending on packages the repository lacks (as Grafana's .deb needs ``musl``), is added to a copy
of the real repository; a minbase root whose only source is that copy installs it offline, with
the signature checked; what the repository refuses changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pigsalt.cli import main as cli
from pigsalt.errors import PigsaltError
from pigsalt.repo import (
    DEFAULT_REPO_DIR,
    RepoInfo,
    add_packages,
    ensure_repo,
    read_repo,
    remove_packages,
    repo_status,
)
from pigsalt.repo.added import added_dir
from tests.conftest import build_deb
from tests.functional import test_repo_build
from tests.functional.test_repo_build import minbase_root

# The same needs as building the repository: root, mmdebstrap, dpkg-dev (each skip says which).
pytestmark = test_repo_build.pytestmark

CODENAME = "bookworm"


@pytest.fixture(scope="module")
def repo() -> RepoInfo:
    return ensure_repo(DEFAULT_REPO_DIR, releases=(CODENAME,))


@pytest.fixture
def copy(repo: RepoInfo) -> Iterator[Path]:
    """The repository, hard-linked into a scratch directory beside it (one filesystem; repo add
    replaces files, never writes into one, so the original stays as it is); removed after."""
    scratch = repo.path.parent / f".test-repo-add-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    dest = scratch / "repo"
    try:
        subprocess.run(["cp", "-al", str(repo.path), str(dest)], check=True)
        yield dest
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An apt cache of the module's own (its package lists fetched once)."""
    return tmp_path_factory.mktemp("apt-cache")


def add(dest: Path, cache: Path, *files: Path) -> dict[str, list[str]]:
    """``pigsalt repo add --release bookworm FILES``."""
    return add_packages(dest, files, releases=(CODENAME,), cache_dir=cache)


def snapshot(dest: Path) -> dict[str, bytes]:
    apt = dest / "apt" / CODENAME
    names = ["Packages", "Release", "InRelease"]
    return {name: (apt / name).read_bytes() for name in names} | {"manifest": (dest / "manifest.json").read_bytes()}


def test_an_added_package_and_its_missing_dependencies_install_offline(copy: Path, cache: Path, tmp_path: Path):
    probe = build_deb(tmp_path, "pigsalt-probe", depends="musl, hello (>= 2)")
    built = sorted(p.name for p in (copy / "apt" / CODENAME).glob("*.deb"))
    added = add(copy, cache, probe)
    assert sorted(spec.split("=")[0] for spec in added[CODENAME]) == ["hello", "musl"]

    packages = (copy / "apt" / CODENAME / "Packages").read_text()
    for name in ("pigsalt-probe", "musl", "hello"):
        assert f"Package: {name}\n" in packages
    entry = json.loads((copy / "manifest.json").read_text())["releases"][CODENAME]
    assert entry["apt"]["added"] == ["pigsalt-probe=1.0-1"]
    assert (added_dir(copy) / CODENAME / probe.name).is_file()
    state = repo_status(copy)
    assert state.up_to_date, state.problems

    (tmp_path / "minbase").mkdir()
    with minbase_root(tmp_path / "minbase", read_repo(copy), CODENAME) as root:
        root.run("apt-get", "-q", "update")
        root.run("apt-get", "-q", "-y", "install", "pigsalt-probe")
        shown = root.run("dpkg-query", "-W", "-f", "${Package} ${Status}\n", "pigsalt-probe", "musl", "hello")
        assert sorted(shown.stdout.splitlines()) == [
            f"{name} install ok installed" for name in ("hello", "musl", "pigsalt-probe")
        ]

    # A newer version replaces the older one, in the repository and in the store.
    newer = build_deb(tmp_path, "pigsalt-probe", version="1.1-1", depends="musl, hello (>= 2)")
    assert add(copy, cache, newer) == {CODENAME: []}  # its dependencies are in the repository now
    assert sorted(p.name for p in (copy / "apt" / CODENAME).glob("pigsalt-probe_*")) == ["pigsalt-probe_1.1-1_all.deb"]
    assert [p.name for p in (added_dir(copy) / CODENAME).glob("*.deb")] == ["pigsalt-probe_1.1-1_all.deb"]

    entry = json.loads((copy / "manifest.json").read_text())["releases"][CODENAME]
    assert sorted(f.split("_")[0] for f in entry["apt"]["added_dependencies"]["pigsalt-probe"]) == ["hello", "musl"]

    # Removed by name with the dependencies it brought: gone from the index and the store, the
    # release signed again, the repository as it was built; twice is an error.
    assert remove_packages(copy, ["pigsalt-probe"]) == {CODENAME: ["pigsalt-probe=1.1-1"]}
    packages = (copy / "apt" / CODENAME / "Packages").read_text()
    for name in ("pigsalt-probe", "musl", "hello"):
        assert f"Package: {name}\n" not in packages
    # (Against the copy as it was: the e2e lane may add a package to the live repository meanwhile.)
    assert sorted(p.name for p in (copy / "apt" / CODENAME).glob("*.deb")) == built
    assert not list((added_dir(copy) / CODENAME).glob("*.deb"))
    assert json.loads((copy / "manifest.json").read_text())["releases"][CODENAME]["apt"]["added"] == []
    assert repo_status(copy).up_to_date
    with pytest.raises(PigsaltError, match=r"^repo remove: pigsalt-probe not added with pigsalt repo add"):
        remove_packages(copy, ["pigsalt-probe"])


@pytest.mark.parametrize(
    ("name", "depends", "arch", "error"),
    [
        ("haproxy", "", "all", "haproxy: already in the repository from bookworm's archive"),
        ("pigsalt-probe", "pigsalt-no-such-package", "all", "pigsalt-no-such-package"),
        ("pigsalt-probe", "", "arm64", "built for arm64, the repository is for amd64"),
    ],
    ids=["a-debian-package", "an-unknown-dependency", "another-architecture"],
)
def test_what_the_repository_cannot_take_is_refused_in_one_line_and_changes_nothing(
    copy: Path, tmp_path: Path, name: str, depends: str, arch: str, error: str
):
    before = snapshot(copy)
    result = CliRunner().invoke(
        cli,
        [
            "repo",
            "add",
            "--dest",
            str(copy),
            "--release",
            CODENAME,
            build_deb(tmp_path, name, depends=depends, arch=arch).as_posix(),
        ],
    )
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and error in errors[0], result.output  # progress lines aside, one error line
    assert "Traceback" not in result.output
    assert snapshot(copy) == before
    assert not added_dir(copy).exists()


def test_the_signing_key_of_the_repository_signs_what_was_added(copy: Path, cache: Path, tmp_path: Path):
    add(copy, cache, build_deb(tmp_path, "pigsalt-probe", depends="hello"))
    keyring = copy / "apt" / "pigsalt-archive-keyring.gpg"
    for args in (["InRelease"], ["Release.gpg", "Release"]):
        paths = [str(copy / "apt" / CODENAME / a) for a in args]
        subprocess.run(["gpgv", "--keyring", str(keyring), *paths], check=True, capture_output=True)
    packages = hashlib.sha256((copy / "apt" / CODENAME / "Packages").read_bytes()).hexdigest()
    assert f" {packages} " in (copy / "apt" / CODENAME / "InRelease").read_text()
