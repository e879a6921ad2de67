"""The Debian half of the repository: download a dependency closure, index it, write Release.

The closure is computed by apt itself, with a private configuration whose dpkg status file is
empty: apt then resolves every requested package as if on a system with nothing installed, so
the result holds everything a minbase node can be missing. The host's installed packages, its
sources and its package lists are never touched (``Debug::NoLocking`` avoids its lock too).
The closure is kept with a digest of the lists it came from: while the mirror has not changed
(its Release files checksum every index), a rebuild reuses it instead of resolving again.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_bytes_atomic, write_text_atomic
from pigsalt.repo._util import run
from pigsalt.repo.recipe import ReleaseRecipe

#: Where a workspace keeps its last closure (reused while the lists and the request are the same).
RESOLVED = "resolved.json"
#: apt patterns for the minbase set (what ``mmdebstrap --variant=minbase`` installs).
MINBASE_PATTERNS = ("?essential", "?priority(required)", "apt")

# "Inst libc6 (2.36-9+deb12u14 Debian:12.11/stable, Debian-Security:12/stable-security [amd64])"
_INST = re.compile(r"^Inst (?P<name>[^\s:]+)(?::\S+)? (?:\[[^\]]*\] )?\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)")


@dataclass(frozen=True, order=True)
class Deb:
    """One package of the closure, as apt chose it."""

    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        """The file name apt gives the downloaded archive (``:`` in versions becomes ``%3a``)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


class AptWorkspace:
    """A private apt setup under ``root`` for one release: sources, lists, archive cache, empty status."""

    def __init__(self, root: Path, recipe: ReleaseRecipe, architecture: str) -> None:
        self.root = root
        self.recipe = recipe
        self.architecture = architecture
        self.archives = root / "archives"
        self.config = root / "apt.conf"

    def prepare(self) -> None:
        """Write the configuration; the lists and archives survive between builds (a cache)."""
        for sub in ("lists/partial", "archives/partial", "etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        status = self.root / "status"
        if not status.is_file() or status.stat().st_size:
            write_text_atomic(status, "")  # rewritten only when needed: its mtime keys apt's cache
        sources = [line for source in self.recipe.effective_sources() for line in source.lines(self.recipe.keyring)]
        write_text_atomic(self.root / "etc" / "sources.list", "\n".join(sources) + "\n")
        recommends = "true" if self.recipe.install_recommends else "false"
        settings = {
            "Dir::State": self.root,
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": self.root / "status",
            "Dir::State::extended_states": self.root / "extended_states",
            "Dir::Cache": self.root,
            "Dir::Cache::archives": self.archives,
            "Dir::Etc::sourcelist": self.root / "etc" / "sources.list",
            "Dir::Etc::sourceparts": self.root / "etc" / "sources.list.d",
            "Dir::Etc::preferences": self.root / "etc" / "preferences",
            "Dir::Etc::preferencesparts": self.root / "etc" / "preferences.d",
            "Dir::Etc::parts": self.root / "etc" / "apt.conf.d",
            "Debug::NoLocking": "true",
            "APT::Architecture": self.architecture,
            "APT::Architectures": self.architecture,
            "APT::Install-Recommends": recommends,
            "APT::Install-Suggests": "false",
            "APT::Get::Assume-Yes": "true",
            "APT::Sandbox::User": "root",
            "Acquire::Languages": "none",
            "Acquire::Retries": "3",
        }
        text = "".join(f'{key} "{value}";\n' for key, value in settings.items())
        write_text_atomic(self.config, text)

    def env(self) -> dict[str, str]:
        """Environment for apt: our config only, C locale, no questions."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("APT_", "LC_", "LANG", "LANGUAGE"))}
        env.update({"APT_CONFIG": str(self.config), "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"})
        return env

    def update(self) -> None:
        """Fetch the package lists of the recipe's sources."""
        run(["apt-get", "-q", "update"], env=self.env(), what="apt-get update", timeout=600)

    def simulate(self, wanted: Sequence[str]) -> list[Deb]:
        """What ``apt-get install WANTED`` would install on an empty system."""
        proc = run(["apt-get", "-q", "-s", "install", *wanted], env=self.env(), what="apt-get (resolve)")
        return parse_simulation(proc.stdout)

    def resolve(self, packages: Sequence[str]) -> list[Deb]:
        """The closure of ``packages`` (plus minbase when the recipe asks), on an empty system.

        apt resolves alternatives and Recommends against what is already chosen, so the
        closure of the whole set misses what a node installing one package at a time picks
        (``cron`` for ``sysstat``, ``systemd-timesyncd`` before ``chrony``...). The result is
        the union of the whole set's closure and each package's own; it may hold packages
        that conflict with each other, which a repository can.
        """
        whole = list(packages) + (list(MINBASE_PATTERNS) if self.recipe.include_minbase else [])
        results = [self.simulate(whole)]  # first alone: it (re)builds apt's binary cache
        with ThreadPoolExecutor(max_workers=4) as pool:
            results += pool.map(self.simulate, [[name] for name in packages])
        chosen: dict[str, Deb] = {}
        for debs in results:
            for deb in debs:
                chosen.setdefault(deb.name, deb)
        if not chosen:
            raise PigsaltError("apt-get (resolve): apt chose no packages; is the recipe empty?")
        missing = [name for name in packages if name not in chosen]
        if missing:
            # A virtual package satisfied by another one is fine for apt, not for the recipe:
            # nodes install these names, so each must be a real package in the repository.
            raise PigsaltError(f"apt-get (resolve): not real packages on {self.recipe.codename}: {', '.join(missing)}")
        debs = sorted(chosen.values())
        saved = {"key": self.resolution_key(packages), "debs": [[d.name, d.version, d.arch] for d in debs]}
        write_text_atomic(self.root / RESOLVED, json.dumps(saved) + "\n")
        return debs

    def resolution_key(self, packages: Sequence[str]) -> str:
        """What a closure depends on: the lists (their Release files checksum every index) and the request."""
        digest = hashlib.sha256()
        for path in sorted((self.root / "lists").glob("*Release")):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
        request = [list(packages), list(MINBASE_PATTERNS), self.recipe.include_minbase]
        request += [self.recipe.install_recommends, self.architecture]
        digest.update(json.dumps(request).encode("utf-8"))
        return digest.hexdigest()

    def cached_resolution(self, packages: Sequence[str]) -> list[Deb] | None:
        """The closure the last ``resolve`` found, if the lists and the request are the same."""
        try:
            saved = json.loads((self.root / RESOLVED).read_text(encoding="utf-8"))
            if saved["key"] == self.resolution_key(packages):
                return [Deb(*entry) for entry in saved["debs"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def absent(self, debs: Sequence[Deb]) -> list[Deb]:
        """The packages of ``debs`` whose archive is not in the cache yet."""
        return [deb for deb in debs if not (self.archives / deb.filename).is_file()]

    def download(self, debs: Sequence[Deb]) -> None:
        """Fetch exactly these versions into the cache (no resolution: ``apt-get download``)."""
        for start in range(0, len(debs), 200):
            batch = [f"{deb.name}={deb.version}" for deb in debs[start : start + 200]]
            run(
                ["apt-get", "-q", "download", *batch],
                cwd=self.archives,
                env=self.env(),
                what="apt-get download",
                timeout=3600,
            )

    def collect(self, debs: Iterable[Deb], apt_dir: Path) -> None:
        """Hard-link (or copy) exactly the chosen archives into ``apt_dir``; prune the cache."""
        apt_dir.mkdir(parents=True, exist_ok=True)
        chosen = {deb.filename for deb in debs}
        absent = sorted(name for name in chosen if not (self.archives / name).is_file())
        if absent:
            raise PigsaltError(f"apt download is incomplete: {len(absent)} archives missing, e.g. {absent[0]}")
        for name in sorted(chosen):
            link_or_copy(self.archives / name, apt_dir / name)
        for stale in self.archives.glob("*.deb"):
            if stale.name not in chosen:
                stale.unlink()


def parse_simulation(output: str) -> list[Deb]:
    """The packages an ``apt-get -s install`` run would install, sorted by name."""
    debs = {}
    for line in output.splitlines():
        match = _INST.match(line)
        if match:
            deb = Deb(match["name"], match["version"], match["arch"])
            debs[deb.name] = deb
    return sorted(debs.values())


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when both sit on one filesystem, else a copy."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_packages_index(apt_dir: Path) -> None:
    """``Packages`` and ``Packages.gz`` for the flat repository, from ``dpkg-scanpackages``."""
    proc = run(["dpkg-scanpackages", "--multiversion", "."], cwd=apt_dir, what="dpkg-scanpackages", timeout=600)
    if not proc.stdout.strip():
        raise PigsaltError(f"dpkg-scanpackages found no packages in {apt_dir}")
    data = proc.stdout.encode("utf-8")
    write_bytes_atomic(apt_dir / "Packages", data)
    write_bytes_atomic(apt_dir / "Packages.gz", gzip.compress(data, compresslevel=9, mtime=0))


def release_text(
    apt_dir: Path, *, architecture: str, codename: str, description: str, now: datetime | None = None
) -> str:
    """The ``Release`` file of a flat repository, listing the index files with their checksums.

    ``Suite`` and ``Codename`` are both the release's codename: each release has its own
    directory, and apt compares the value with what it saw before.
    """
    moment = now or datetime.now(timezone.utc)
    files = [name for name in ("Packages", "Packages.gz") if (apt_dir / name).is_file()]
    lines = [
        "Origin: pigsalt",
        "Label: pigsalt",
        f"Suite: {codename}",
        f"Codename: {codename}",
        f"Date: {email.utils.format_datetime(moment.astimezone(timezone.utc), usegmt=True)}",
        f"Architectures: {architecture} all",
        "Acquire-By-Hash: no",
        f"Description: {description}",
    ]
    for field, algorithm in (("MD5Sum", "md5"), ("SHA256", "sha256"), ("SHA512", "sha512")):
        lines.append(f"{field}:")
        for name in files:
            data = (apt_dir / name).read_bytes()
            lines.append(f" {hashlib.new(algorithm, data).hexdigest()} {len(data):>16} {name}")
    return "\n".join(lines) + "\n"


def host_architecture() -> str:
    """The Debian architecture of this machine (the nodes must share it)."""
    return run(["dpkg", "--print-architecture"], what="dpkg").stdout.strip()
