from __future__ import annotations

from pathlib import Path

import pytest

from pigsalt.debian import BY_CODENAME, GLIBC, RELEASES, AptSource, host_sources, parse_sources, release, sources_for
from pigsalt.errors import PigsaltError

DEB822 = """Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://vendor.invalid/node
Suites: nodistro
Components: main

Types: deb-src
URIs: http://mirror.invalid/debian
Suites: bookworm
Components: main
"""


def test_deb822_and_one_line_sources_keep_only_the_release_with_main():
    files = {
        "debian.sources": DEB822,
        "sources.list": "deb [arch=amd64] http://other.invalid/debian bookworm main contrib # note\n"
        "deb http://other.invalid/debian trixie main\n# deb http://x.invalid/debian bookworm main\n",
    }
    assert parse_sources(files, "bookworm") == (
        AptSource("http://mirror.invalid/debian", ("bookworm", "bookworm-updates")),
        AptSource("http://mirror.invalid/debian-security", ("bookworm-security",)),
        AptSource("http://other.invalid/debian", ("bookworm",)),
    )


def test_lines_with_and_without_keyring():
    src = AptSource("http://mirror.invalid/debian", ("bookworm",))
    assert src.lines() == ["deb http://mirror.invalid/debian bookworm main"]
    assert src.lines("/k.gpg") == ["deb [signed-by=/k.gpg] http://mirror.invalid/debian bookworm main"]


def test_no_source_is_a_clear_error(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(PigsaltError, match="no APT source for Debian bookworm"):
        host_sources("bookworm", etc=tmp_path)


def test_a_release_is_named_by_node_os_or_codename() -> None:
    assert release("debian13") is release("trixie") is RELEASES["debian13"]
    assert (release("bookworm").python, release("trixie").python) == ("3.11", "3.13")
    assert (release("bookworm").pg_default, release("trixie").pg_default) == (15, 17)
    with pytest.raises(PigsaltError, match="unknown Debian release 'sid': expected one of debian12, debian13"):
        release("sid")


def test_a_machine_listing_only_bookworm_serves_trixie_from_the_same_archives(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert sources_for("bookworm", etc=tmp_path) == (
        AptSource("http://mirror.invalid/debian", ("bookworm", "bookworm-updates")),
        AptSource("http://mirror.invalid/debian-security", ("bookworm-security",)),
    )
    assert sources_for("trixie", etc=tmp_path) == (
        AptSource("http://mirror.invalid/debian", ("trixie", "trixie-updates")),
        AptSource("http://mirror.invalid/debian-security", ("trixie-security",)),
    )


def test_every_release_has_its_glibc() -> None:
    # The repository's wheels for a release's Python are fetched for manylinux up to its glibc.
    assert set(GLIBC) == set(BY_CODENAME)
    assert GLIBC["bookworm"] < GLIBC["trixie"]
