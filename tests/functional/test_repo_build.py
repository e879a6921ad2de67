"""The offline repository, for real: built from the mirror and PyPI, then used with no network.

For each release (bookworm, trixie), a minbase root of that release (``mmdebstrap``, cached)
whose only APT source is the repository's ``apt/<codename>/`` installs every package of the
release's recipe inside a network namespace of its own (``unshare --net``), with the signature
checked (no ``trusted=yes``); the wheelhouse installs Salt, pigsalt and Patroni 4 into venvs of
that root's Python (3.11, 3.13). The repository is built once at the default path and reused
while the recipe is unchanged (``ensure_repo``); a cold build of both takes a few minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from pigsalt.debian import BY_CODENAME, sources_for
from pigsalt.repo import DEFAULT_CACHE_DIR, DEFAULT_KEY_DIR, DEFAULT_REPO_DIR, RepoInfo, ensure_repo, write_tarball
from pigsalt.repo.recipe import load_recipe
from pigsalt.wheellock import load_lock, normalize

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (apt downloads, chroot, mounts)"),
    pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="mmdebstrap is not installed (make deps)"),
    pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None, reason="dpkg-dev is not installed (make deps)"),
]

RELEASES = ("bookworm", "trixie")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8"}


@pytest.fixture(scope="module")
def repo() -> RepoInfo:
    return ensure_repo(DEFAULT_REPO_DIR, releases=RELEASES)


def minbase_tarball(codename: str) -> Path:
    """A plain minbase tree of ``codename`` (point release only: the repository must bring updates)."""
    tarball = DEFAULT_CACHE_DIR / f"minbase-{codename}.tar"
    if not tarball.is_file():
        if tarball.is_dir():  # left by an older version that named its output ``….tar.tmp``
            shutil.rmtree(tarball)
        # The archive this machine's apt-get uses (for trixie, the same one with trixie's suite).
        mirror = sources_for(codename)[0].lines("/usr/share/keyrings/debian-archive-keyring.gpg")[0]
        # mmdebstrap picks the format from the name: it must end in .tar to make a tarball.
        tmp = tarball.with_name(f"{tarball.stem}.tmp{tarball.suffix}")
        cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", "--quiet", codename, str(tmp), mirror]
        subprocess.run(cmd, check=True, timeout=900)
        if not tarfile.is_tarfile(tmp):
            pytest.fail(f"mmdebstrap made no tarball at {tmp}")
        tmp.replace(tarball)
    return tarball


class Root:
    """A throwaway minbase root of ``codename`` with the repository mounted read-only at /srv/repo."""

    def __init__(self, path: Path, codename: str) -> None:
        self.path = path
        self.codename = codename

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
def minbase_root(tmp_dir: Path, repo: RepoInfo, codename: str) -> Iterator[Root]:
    path = tmp_dir / "root"
    path.mkdir()
    mounts: list[Path] = []
    try:
        subprocess.run(["tar", "-xf", str(minbase_tarball(codename)), "-C", str(path)], check=True, timeout=300)
        # The release's suite of the repository is the only source, verified with its keyring.
        (path / "etc/apt/sources.list").unlink(missing_ok=True)
        for extra in (path / "etc/apt/sources.list.d").glob("*"):
            extra.unlink()
        (path / "etc/apt/keyrings").mkdir(parents=True, exist_ok=True)
        shutil.copy(repo.keyring, path / "etc/apt/keyrings/pigsalt-archive-keyring.gpg")
        (path / "etc/apt/sources.list.d/pigsalt.list").write_text(
            f"deb [signed-by=/etc/apt/keyrings/pigsalt-archive-keyring.gpg] file:/srv/repo/apt/{codename}/ ./\n"
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
        yield Root(path, codename)
    finally:
        for mount in reversed(mounts):
            subprocess.run(["umount", "-l", str(mount)], check=False)
        if not any(m for m in mounts if os.path.ismount(m)):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", params=RELEASES)
def root(request: pytest.FixtureRequest, repo: RepoInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Root]:
    codename = request.param
    with minbase_root(tmp_path_factory.mktemp(f"minbase-{codename}"), repo, codename) as made:
        yield made


@pytest.mark.parametrize("codename", RELEASES)
def test_layout_is_complete_signed_and_keyless(repo: RepoInfo, codename: str) -> None:
    assert set(RELEASES) <= set(repo.releases)
    suite = repo.release_dir(codename)
    assert suite == repo.path / "apt" / codename
    for name in ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg"):
        assert (suite / name).is_file(), name
    assert repo.keyring == repo.apt_dir / "pigsalt-archive-keyring.gpg"
    assert (repo.pypi_dir / "simple" / "index.html").is_file()
    assert (repo.path / "manifest.json").is_file()
    subprocess.run(["gpgv", "--keyring", str(repo.keyring), str(suite / "InRelease")], check=True)
    release = (suite / "Release").read_text()
    assert f"\nSuite: {codename}\n" in release and f"\nCodename: {codename}\n" in release
    # The index lists exactly the archives that are there: the closure, and the packages a user
    # added (pigsalt repo add) with their own dependencies.
    indexed = (suite / "Packages").read_text().count("\nPackage: ") + 1
    apt = json.loads((repo.path / "manifest.json").read_text())["releases"][codename]["apt"]
    added = len(apt.get("added", [])) + len({f for files in apt.get("added_dependencies", {}).values() for f in files})
    assert indexed == len(list(suite.glob("*.deb"))) == len(repo.packages[codename]) + added
    assert set(load_recipe().release(codename).packages) <= set(repo.packages[codename])
    assert repo.python_versions[codename] == BY_CODENAME[codename].python
    # The private key stays outside the served tree.
    assert oct(DEFAULT_KEY_DIR.stat().st_mode & 0o777) == "0o700"
    assert not DEFAULT_KEY_DIR.resolve().is_relative_to(repo.path.resolve())
    for path in repo.path.rglob("*"):
        if path.is_file() and path.suffix not in (".deb", ".whl", ".gz"):
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    # The wheels: salt as pinned, pigsalt, Patroni 4, a psycopg driver; compiled ones for each Python.
    names = {w.split("-")[0].lower(): w.split("-")[1] for w in repo.wheels}
    assert names["salt"] == "3008.3"
    assert names["patroni"].startswith("4.")
    assert {"pigsalt", "psycopg", "psycopg_binary", "psycopg2_binary", "timelib"} <= set(names)
    abi = "cp" + BY_CODENAME[codename].python.replace(".", "")
    assert f"timelib-0.3.0-{abi}-{abi}-linux_x86_64.whl" in repo.wheels


def test_minbase_root_installs_every_package_offline(root: Root, repo: RepoInfo) -> None:
    packages = load_recipe().release(root.codename).packages
    release = BY_CODENAME[root.codename]
    update = root.run("apt-get", "update")
    assert f"file:/srv/repo/apt/{root.codename} ./ InRelease" in update.stdout
    assert not any(line.startswith(("W:", "E:")) for line in update.stderr.splitlines()), update.stderr
    install = root.run(
        "apt-get",
        "install",
        "-y",
        "-q",
        "-o",
        "Dpkg::Use-Pty=0",
        *packages,
        timeout=1800,
    )
    assert "http://" not in install.stdout
    status = root.run("dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages)
    not_installed = [line for line in status.stdout.splitlines() if not line.endswith(" installed")]
    assert not_installed == []
    # create_main_cluster = false was honoured: no cluster for Patroni to trip over.
    assert not (root.path / f"etc/postgresql/{release.pg_default}/main").exists()
    assert root.run("pg_lsclusters", "--no-header").stdout.strip() == ""
    assert root.run(f"/usr/lib/postgresql/{release.pg_default}/bin/postgres", "--version").returncode == 0
    assert root.run("etcdctl", "version").stdout.startswith(f"etcdctl version: {release.etcd}")
    # Packages the point release lacks came from the repository too (e.g. libc6 updates).
    libc = root.run("dpkg-query", "-W", "-f", "${Version}", "libc6").stdout
    assert f"libc6={libc}" in _manifest_packages(repo, root.codename)


def test_wheelhouse_installs_salt_pigsalt_and_patroni_offline(root: Root, repo: RepoInfo) -> None:
    root.run("apt-get", "install", "-y", "-q", "python3-venv")
    python = root.run("python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    assert python == BY_CODENAME[root.codename].python
    links = ["--no-index", "--find-links", "/srv/repo/pypi", "--disable-pip-version-check", "-q"]
    root.run("python3", "-m", "venv", "/opt/pigsalt/salt")
    root.run("/opt/pigsalt/salt/bin/pip", "install", *links, "salt==3008.3", "pigsalt", timeout=900)
    assert root.run("/opt/pigsalt/salt/bin/salt-call", "--version").stdout.startswith("salt-call 3008.3")
    assert "pigsalt" in root.run("/opt/pigsalt/salt/bin/pigsalt", "--version").stdout
    report = root.run("/opt/pigsalt/salt/bin/salt-call", "--local", "test.versions_report", timeout=300).stdout
    assert f"Python: {python}." in report
    root.run("python3", "-m", "venv", "/opt/pigsalt/patroni")
    root.run("/opt/pigsalt/patroni/bin/pip", "install", *links, "patroni[etcd3]", "psycopg[binary]", timeout=900)
    assert root.run("/opt/pigsalt/patroni/bin/patroni", "--version").stdout.startswith("patroni 4.")
    root.run("/opt/pigsalt/patroni/bin/python", "-c", "import etcd, psycopg; psycopg.pq.version()")


def test_the_wheelhouse_holds_exactly_the_locked_files(repo: RepoInfo) -> None:
    """Every wheel served is the lock's, by hash, or compiled from the lock's sdist of that
    version (salt, timelib: their hashes are the sdists'), or pigsalt's own; and every locked
    file of each Python is there."""
    lock = load_lock()
    served = {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in (repo.path / "pypi").glob("*.whl")}
    stray = []
    for name, digest in served.items():
        project, version = normalize(name.split("-")[0]), name.split("-")[1]
        if project == "pigsalt":
            continue
        locked = [f for part in lock.pythons if (f := part.find(project)) is not None]
        if not any(
            (f.file == name and f.sha256 == digest) or (not f.is_wheel and f.version == version) for f in locked
        ):
            stray.append(name)
    assert stray == [], f"wheels the lock does not name by hash: {stray}"
    for part in lock.pythons:
        for f in part.install:
            built = {n for n in served if normalize(n.split("-")[0]) == f.name and n.split("-")[1] == f.version}
            assert (f.file in served) if f.is_wheel else built, f"{f.file} (Python {part.python}) is not served"


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
        for lists in (root.path / "var/lib/apt/lists").glob(f"_srv_repo_apt_{root.codename}_*"):
            lists.unlink()
        refused = root.run("apt-get", "update", check=False)
        assert refused.returncode != 0
        # bookworm's apt verifies with gpgv (NO_PUBKEY), trixie's with sqv (Missing key).
        output = refused.stdout + refused.stderr
        assert "NO_PUBKEY" in output or "Missing key" in output
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
            member = archive.getmember("repo/apt/trixie/InRelease")
    finally:
        tarball.unlink()  # a few hundred MB: not for pytest's kept temp dirs
    assert {"repo/manifest.json", "repo/apt/pigsalt-archive-keyring.gpg", "repo/pypi/simple/index.html"} <= names
    assert {f"repo/apt/{codename}/Packages" for codename in RELEASES} <= names
    assert all(name == "repo" or name.startswith("repo/") for name in names)
    assert (member.uid, member.gid) == (0, 0)
    for codename in repo.releases:
        debs = [n for n in names if n.startswith(f"repo/apt/{codename}/") and n.endswith(".deb")]
        assert len(debs) == len(repo.packages[codename])


def _manifest_packages(repo: RepoInfo, codename: str) -> set[str]:
    manifest = json.loads((repo.path / "manifest.json").read_text())
    return set(manifest["releases"][codename]["apt"]["packages"])
