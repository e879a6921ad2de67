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
