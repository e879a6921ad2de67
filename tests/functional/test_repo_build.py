"""The offline repository, for real: built from the mirror and PyPI, then used with no network.

A minbase Debian 12 root (``mmdebstrap``, cached) whose only APT source is the repository
installs every package of the recipe inside a network namespace of its own (``unshare --net``),
with the signature checked (no ``trusted=yes``); the wheelhouse installs Salt, pigsalt and
Patroni 4 into venvs of that root's Python. The repository is built once at the default path
and reused while the recipe is unchanged (``ensure_repo``).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from pigsalt.debian import host_sources
from pigsalt.repo import DEFAULT_CACHE_DIR, DEFAULT_KEY_DIR, DEFAULT_REPO_DIR, RepoInfo, ensure_repo, write_tarball
from pigsalt.repo.recipe import load_recipe

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (apt downloads, chroot, mounts)"),
    pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="mmdebstrap is not installed (make deps)"),
    pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-dev is not installed (make deps)"),
]

MINBASE_TAR = DEFAULT_CACHE_DIR / "minbase-bookworm.tar"
# The host's own Debian archive (the one its apt-get uses), for building the throwaway root.
MIRROR = host_sources("bookworm")[0].lines("/usr/share/keyrings/debian-archive-keyring.gpg")[0]
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8"}


@pytest.fixture(scope="module")
def repo() -> RepoInfo:
    return ensure_repo(DEFAULT_REPO_DIR)


def minbase_tarball() -> Path:
    """A plain bookworm minbase tree (point release only: the repository must bring updates)."""
    if not MINBASE_TAR.is_file():
        if MINBASE_TAR.is_dir():  # left by an older version that named its output ``….tar.tmp``
            shutil.rmtree(MINBASE_TAR)
        # mmdebstrap picks the format from the name: it must end in .tar to make a tarball.
        tmp = MINBASE_TAR.with_name(f"{MINBASE_TAR.stem}.tmp{MINBASE_TAR.suffix}")
        cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", "bookworm", str(tmp), MIRROR]
        subprocess.run(cmd, check=True, timeout=600)
        if not tarfile.is_tarfile(tmp):
            pytest.fail(f"mmdebstrap made no tarball at {tmp}")
        tmp.replace(MINBASE_TAR)
    return MINBASE_TAR


class Root:
    """A throwaway minbase root with the repository mounted read-only at /srv/repo."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self, *cmd: str, offline: bool = True, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["unshare", "--net"] if offline else []
        argv = [*prefix, "chroot", str(self.path), "env", "-i", *(f"{k}={v}" for k, v in CLEAN_ENV.items()), *cmd]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


@contextlib.contextmanager
def minbase_root(tmp_dir: Path, repo: RepoInfo) -> Iterator[Root]:
    path = tmp_dir / "root"
    path.mkdir()
    mounts: list[Path] = []
    try:
        subprocess.run(["tar", "-xf", str(minbase_tarball()), "-C", str(path)], check=True, timeout=300)
        # The repository is the only source, verified with its keyring.
        (path / "etc/apt/sources.list").unlink(missing_ok=True)
        for extra in (path / "etc/apt/sources.list.d").glob("*"):
            extra.unlink()
        (path / "etc/apt/keyrings").mkdir(parents=True, exist_ok=True)
        shutil.copy(repo.keyring, path / "etc/apt/keyrings/pigsalt-archive-keyring.gpg")
        (path / "etc/apt/sources.list.d/pigsalt.list").write_text(
            "deb [signed-by=/etc/apt/keyrings/pigsalt-archive-keyring.gpg] file:/srv/repo/apt ./\n"
        )
        # As the formulas will: no default cluster (Patroni owns Postgres), no service starts.
        (path / "etc/postgresql-common/createcluster.d").mkdir(parents=True)
        (path / "etc/postgresql-common/createcluster.d/pigsalt.conf").write_text("create_main_cluster = false\n")
        policy = path / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        (path / "srv/repo").mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(repo.path), str(path / "srv/repo")], check=True)
        mounts.append(path / "srv/repo")
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path / "srv/repo")], check=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(path / "proc")], check=True)
        mounts.append(path / "proc")
        yield Root(path)
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False)
        if not any(m for m in mounts if os.path.ismount(m)):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def root(repo: RepoInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Root]:
    with minbase_root(tmp_path_factory.mktemp("minbase"), repo) as made:
        yield made


def test_layout_is_complete_signed_and_keyless(repo: RepoInfo) -> None:
    for name in ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg", "pigsalt-archive-keyring.gpg"):
        assert (repo.apt_dir / name).is_file(), name
    assert (repo.pypi_dir / "simple" / "index.html").is_file()
    assert (repo.path / "manifest.json").is_file()
    subprocess.run(["gpgv", "--keyring", str(repo.keyring), str(repo.apt_dir / "InRelease")], check=True)
    # The index lists exactly the archives that are there, and every requested package.
    indexed = (repo.apt_dir / "Packages").read_text().count("\nPackage: ") + 1
    assert indexed == len(list(repo.apt_dir.glob("*.deb"))) == len(repo.packages)
    assert set(load_recipe().packages) <= set(repo.packages)
    # The private key stays outside the served tree.
    assert oct(DEFAULT_KEY_DIR.stat().st_mode & 0o777) == "0o700"
    assert not DEFAULT_KEY_DIR.resolve().is_relative_to(repo.path.resolve())
    for path in repo.path.rglob("*"):
        if path.is_file() and path.suffix not in (".deb", ".whl", ".gz"):
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    # The wheels: salt as pinned, pigsalt, Patroni 4, a psycopg driver.
    names = {w.split("-")[0].lower(): w.split("-")[1] for w in repo.wheels}
    assert names["salt"] == "3008.3"
    assert names["patroni"].startswith("4.")
    assert {"pigsalt", "psycopg", "psycopg_binary", "psycopg2_binary", "timelib"} <= set(names)


def test_minbase_root_installs_every_package_offline(root: Root, repo: RepoInfo) -> None:
    update = root.run("apt-get", "update")
    assert "file:/srv/repo/apt ./ InRelease" in update.stdout
    assert not any(line.startswith(("W:", "E:")) for line in update.stderr.splitlines()), update.stderr
    install = root.run(
        "apt-get",
        "install",
        "-y",
        "-q",
        "-o",
        "Dpkg::Use-Pty=0",
        *load_recipe().packages,
        timeout=900,
    )
    assert "http://" not in install.stdout
    status = root.run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *load_recipe().packages)
    not_installed = [line for line in status.stdout.splitlines() if not line.endswith(" installed")]
    assert not_installed == []
    # create_main_cluster = false was honoured: no cluster for Patroni to trip over.
    assert not (root.path / "etc/postgresql/15/main").exists()
    assert root.run("pg_lsclusters", "--no-header").stdout.strip() == ""
    assert root.run("etcdctl", "version").stdout.startswith("etcdctl version: 3.4")
    # Packages the point release lacks came from the repository too (e.g. libc6 updates).
    libc = root.run("dpkg-query", "-W", "-f", "${Version}", "libc6").stdout
    assert f"libc6={libc}" in _manifest_packages(repo)


def test_wheelhouse_installs_salt_pigsalt_and_patroni_offline(root: Root, repo: RepoInfo) -> None:
    root.run("apt-get", "install", "-y", "-q", "python3-venv")
    links = ["--no-index", "--find-links", "/srv/repo/pypi", "--disable-pip-version-check", "-q"]
    root.run("python3", "-m", "venv", "/opt/pigsalt/salt")
    root.run("/opt/pigsalt/salt/bin/pip", "install", *links, "pigsalt", timeout=900)
    assert root.run("/opt/pigsalt/salt/bin/salt-call", "--version").stdout.startswith("salt-call 3008.3")
    assert "pigsalt" in root.run("/opt/pigsalt/salt/bin/pigsalt", "--version").stdout
    root.run("python3", "-m", "venv", "/opt/pigsalt/patroni")
    root.run("/opt/pigsalt/patroni/bin/pip", "install", *links, "patroni[etcd3]", "psycopg[binary]", timeout=900)
    assert root.run("/opt/pigsalt/patroni/bin/patroni", "--version").stdout.startswith("patroni 4.")
    root.run("/opt/pigsalt/patroni/bin/python", "-c", "import etcd, psycopg; psycopg.pq.version()")


def test_a_foreign_key_is_refused(root: Root, tmp_path: Path) -> None:
    other = tmp_path / "other-key"
    other.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(other), "--batch", "--no-tty"]
    subprocess.run(
        [*gpg, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", "other <x@y>", "ed25519"],
        check=True,
        capture_output=True,
    )
    exported = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
    subprocess.run(["gpgconf", "--homedir", str(other), "--kill", "gpg-agent"], check=False)
    keyring = root.path / "etc/apt/keyrings/pigsalt-archive-keyring.gpg"
    good = keyring.read_bytes()
    try:
        keyring.write_bytes(exported)
        # Without lists from before (apt would keep using them, with a warning).
        for lists in (root.path / "var/lib/apt/lists").glob("_srv_repo_apt_*"):
            lists.unlink()
        refused = root.run("apt-get", "update", check=False)
        assert refused.returncode != 0
        assert "NO_PUBKEY" in refused.stdout + refused.stderr
        assert "is not signed" in refused.stderr
    finally:
        keyring.write_bytes(good)
    root.run("apt-get", "update")


def test_simple_index_serves_pip_over_http(repo: RepoInfo, tmp_path: Path) -> None:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(repo.path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        venv = tmp_path / "venv"
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        index = f"http://127.0.0.1:{server.server_address[1]}/pypi/simple"
        env = {**CLEAN_ENV, "PIP_CONFIG_FILE": os.devnull}
        proc = subprocess.run(
            [
                str(venv / "bin/pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                "--index-url",
                index,
                "patroni[etcd3]",
                "psycopg2-binary",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        version = subprocess.run([str(venv / "bin/patroni"), "--version"], capture_output=True, text=True, check=True)
        assert version.stdout.startswith("patroni 4.")
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(tmp_path / "venv", ignore_errors=True)


def test_tarball_unpacks_as_repo_dir(repo: RepoInfo, tmp_path: Path) -> None:
    tarball = write_tarball(repo.path, tmp_path / "pigsalt-repo.tar.gz")
    try:
        with tarfile.open(tarball) as archive:
            names = set(archive.getnames())
            member = archive.getmember("repo/apt/InRelease")
    finally:
        tarball.unlink()  # a few hundred MB: not for pytest's kept temp dirs
    assert {"repo/manifest.json", "repo/apt/Packages", "repo/pypi/simple/index.html"} <= names
    assert all(name == "repo" or name.startswith("repo/") for name in names)
    assert (member.uid, member.gid) == (0, 0)
    assert len([n for n in names if n.endswith(".deb")]) == len(repo.packages)


def _manifest_packages(repo: RepoInfo) -> set[str]:
    import json

    return set(json.loads((repo.path / "manifest.json").read_text())["apt"]["packages"])
