"""The Debian archives this machine's APT is set up to use.

pigsalt downloads from the same mirror the build machine's own ``apt-get`` uses (its
``/etc/apt/sources.list`` and ``sources.list.d/*.sources``), so no mirror address is written
into pigsalt; a machine with a local mirror uses it without configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pigsalt.errors import PigsaltError

APT_ETC = Path("/etc/apt")


@dataclass(frozen=True)
class AptSource:
    """One Debian archive to download from: a URI and the suites taken from it."""

    uri: str
    suites: tuple[str, ...]

    def lines(self, keyring: str | None = None) -> list[str]:
        """One-line sources.list entries for this archive (component ``main`` only)."""
        option = f"[signed-by={keyring}] " if keyring else ""
        return [f"deb {option}{self.uri} {suite} main" for suite in self.suites]


def _deb822(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current = {}
            continue
        if line.startswith("#") or line[0].isspace():
            continue
        key, _, value = line.partition(":")
        current[key.strip().lower()] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_sources(files: dict[str, str], release: str) -> tuple[AptSource, ...]:
    """The archives among ``files`` (name → text) that carry ``release``'s suites with ``main``."""
    found: dict[str, list[str]] = {}

    def add(uri: str, suites: list[str], components: list[str], enabled: bool = True) -> None:
        wanted = [s for s in suites if s == release or s.startswith(f"{release}-")]
        if enabled and wanted and "main" in components and uri.startswith(("http://", "https://", "file:")):
            for suite in wanted:
                if suite not in found.setdefault(uri.rstrip("/"), []):
                    found[uri.rstrip("/")].append(suite)

    for name, text in sorted(files.items()):
        if name.endswith(".sources"):
            for stanza in _deb822(text):
                if "deb" not in stanza.get("types", "").split():
                    continue
                enabled = stanza.get("enabled", "yes").lower() != "no"
                for uri in stanza.get("uris", "").split():
                    add(uri, stanza.get("suites", "").split(), stanza.get("components", "").split(), enabled)
        elif name.endswith(".list"):
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 4 and words[0] == "deb":
                    add(words[1], [words[2]], words[3:])
    return tuple(AptSource(uri, tuple(suites)) for uri, suites in found.items())


def host_sources(release: str = "bookworm", etc: Path = APT_ETC) -> tuple[AptSource, ...]:
    """The Debian archives this machine's APT uses for ``release``; an error when there are none."""
    files = {}
    for path in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]:
        if path.is_file() and path.name.endswith((".list", ".sources")):
            files[path.name] = path.read_text(errors="replace")
    sources = parse_sources(files, release)
    if not sources:
        raise PigsaltError(f"{etc}: no APT source for Debian {release} (main) is configured on this machine")
    return sources


# --- the Debian releases pigsalt deploys --------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One Debian release a node can run, and what pigsalt takes from it.

    ``name`` is the inventory's spelling (``node_os``); ``codename`` is APT's (suites, the
    repository's ``apt/<codename>/``); ``python`` is the interpreter Salt, Patroni and the agents
    run on (the wheelhouse holds wheels for each release's version); ``pg_versions`` are the
    PostgreSQL majors the release ships, the first being its default.
    """

    name: str
    codename: str
    number: int
    python: str
    pg_versions: tuple[int, ...]
    pgbouncer: str  # the Pgbouncer series the release ships (its config keys differ)
    haproxy: str
    etcd: str
    # pgBackRest's version: its client and its TLS server must run exactly the same one.
    pgbackrest: str

    @property
    def pg_default(self) -> int:
        return self.pg_versions[0]

    def describe(self) -> str:
        versions = ", ".join(str(v) for v in self.pg_versions)
        return f"{self.name} ({self.codename}) ships PostgreSQL {versions}"


RELEASES: dict[str, Release] = {
    "debian12": Release("debian12", "bookworm", 12, "3.11", (15,), "1.18", "2.6", "3.4", "2.45"),
    "debian13": Release("debian13", "trixie", 13, "3.13", (17,), "1.24", "3.0", "3.5", "2.55.1"),
}
DEFAULT_RELEASE = "debian13"
BY_CODENAME: dict[str, Release] = {r.codename: r for r in RELEASES.values()}


def release(name: str) -> Release:
    """The release an inventory's ``node_os`` (or an APT codename) names; an error naming the choices."""
    found = RELEASES.get(name) or BY_CODENAME.get(name)
    if found is None:
        raise PigsaltError(f"unknown Debian release {name!r}: expected one of {', '.join(RELEASES)}")
    return found


def sources_for(codename: str, etc: Path = APT_ETC) -> tuple[AptSource, ...]:
    """This machine's Debian archives, for ``codename``.

    When the machine's APT names the release itself, those sources are used. Otherwise the
    archives it uses for its own release serve the other one too (a Debian mirror carries every
    supported release): ``bookworm``, ``bookworm-updates`` and ``bookworm-security`` become
    ``trixie``, ``trixie-updates`` and ``trixie-security`` at the same addresses.
    """
    try:
        return host_sources(codename, etc)
    except PigsaltError:
        pass
    own = host_release(etc)
    if own is None or own == codename:
        raise PigsaltError(f"{etc}: no APT source for Debian {codename} (main) is configured on this machine")
    return tuple(
        AptSource(src.uri, tuple(codename + suite[len(own) :] for suite in src.suites))
        for src in host_sources(own, etc)
    )


def host_release(etc: Path = APT_ETC) -> str | None:
    """The codename of the release this machine's APT sources carry (one pigsalt knows), if any."""
    for codename in BY_CODENAME:
        try:
            host_sources(codename, etc)
        except PigsaltError:
            continue
        return codename
    return None


#: The glibc each release ships (major, minor): the newest ``manylinux_2_<minor>`` wheel its
#: Python can take. Checked against each release's libc6 (2.36-9+deb12u14, 2.41-12+deb13u5).
GLIBC: dict[str, tuple[int, int]] = {"bookworm": (2, 36), "trixie": (2, 41)}
