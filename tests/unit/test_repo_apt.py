"""The Debian half of the repository builder, without apt or the network."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pigsalt.debian import sources_for
from pigsalt.errors import PigsaltError
from pigsalt.repo.apt import AptWorkspace, Deb, parse_simulation, release_text
from pigsalt.repo.recipe import load_recipe

SIMULATION = """\
NOTE: This is only a simulation!
Reading package lists...
Inst libc6 [2.36-9+deb12u10] (2.36-9+deb12u14 Debian:12.12/stable, Debian-Security:12/stable-security [amd64])
Inst libcap2 (1:2.66-4+deb12u3+b1 Debian-Security:12/stable-security [amd64])
Inst python3-yaml (6.0-3+b2 Debian:12.12/stable [amd64]) []
Inst tzdata (2025b-0+deb12u2 Debian:12.12/stable [all])
Conf libc6 (2.36-9+deb12u14 Debian:12.12/stable [amd64])
Inst libc6 (2.36-9+deb12u14 Debian:12.12/stable [amd64])
"""


def test_simulation_output_gives_name_version_and_arch() -> None:
    assert parse_simulation(SIMULATION) == [
        Deb("libc6", "2.36-9+deb12u14", "amd64"),
        Deb("libcap2", "1:2.66-4+deb12u3+b1", "amd64"),
        Deb("python3-yaml", "6.0-3+b2", "amd64"),
        Deb("tzdata", "2025b-0+deb12u2", "all"),
    ]


def test_archive_file_names_escape_the_epoch_as_apt_does() -> None:
    assert Deb("libcap2", "1:2.66-4+deb12u3+b1", "amd64").filename == "libcap2_1%3a2.66-4+deb12u3+b1_amd64.deb"
    assert Deb("tzdata", "2025b-0+deb12u2", "all").filename == "tzdata_2025b-0+deb12u2_all.deb"


def test_release_lists_both_indexes_with_checksums(tmp_path: Path) -> None:
    (tmp_path / "Packages").write_bytes(b"Package: jq\n")
    (tmp_path / "Packages.gz").write_bytes(b"\x1f\x8b fake")
    moment = datetime(2025, 5, 20, 12, 0, 0, tzinfo=timezone.utc)
    text = release_text(tmp_path, architecture="amd64", codename="trixie", description="test", now=moment)
    sha = hashlib.sha256(b"Package: jq\n").hexdigest()
    assert text.splitlines()[:8] == [
        "Origin: pigsalt",
        "Label: pigsalt",
        "Suite: trixie",
        "Codename: trixie",
        "Date: Tue, 20 May 2025 12:00:00 GMT",
        "Architectures: amd64 all",
        "Acquire-By-Hash: no",
        "Description: test",
    ]
    assert f" {sha}               12 Packages" in text
    for field in ("MD5Sum:", "SHA256:", "SHA512:"):
        assert field in text.splitlines()
    assert text.count("Packages.gz") == 3


@pytest.mark.parametrize("codename", ["bookworm", "trixie"])
def test_workspace_config_is_private_and_the_status_empty(tmp_path: Path, codename: str) -> None:
    workspace = AptWorkspace(tmp_path, load_recipe().release(codename), "amd64")
    workspace.prepare()
    config = (tmp_path / "apt.conf").read_text()
    assert f'Dir::State::status "{tmp_path}/status";' in config
    assert f'Dir::Etc::sourcelist "{tmp_path}/etc/sources.list";' in config
    assert 'Debug::NoLocking "true";' in config
    assert 'APT::Install-Recommends "true";' in config
    assert (tmp_path / "status").read_text() == ""
    sources = (tmp_path / "etc" / "sources.list").read_text().splitlines()
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    # The recipe names no archive: the workspace uses this machine's own APT sources (for trixie,
    # those of the machine's release, with trixie's suites).
    assert sources == [line for src in sources_for(codename) for line in src.lines(keyring)]
    assert all(f" {codename}" in line for line in sources)
    env = workspace.env()
    assert env["APT_CONFIG"] == str(tmp_path / "apt.conf")
    assert env["LC_ALL"] == "C"


def test_closure_is_the_union_of_the_whole_set_and_each_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        ("a", "b", "?essential", "?priority(required)", "apt"): [Deb("a", "1", "all"), Deb("b", "1", "all")],
        ("a",): [Deb("a", "1", "all"), Deb("cron", "3", "amd64")],
        ("b",): [Deb("b", "1", "all")],
    }
    workspace = AptWorkspace(tmp_path, load_recipe().release("bookworm"), "amd64")
    monkeypatch.setattr(workspace, "simulate", lambda wanted: answers[tuple(wanted)])
    assert workspace.resolve(["a", "b"]) == [Deb("a", "1", "all"), Deb("b", "1", "all"), Deb("cron", "3", "amd64")]


def test_a_virtual_package_in_the_recipe_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = AptWorkspace(tmp_path, load_recipe().release("trixie"), "amd64")
    monkeypatch.setattr(workspace, "simulate", lambda wanted: [Deb("exim4", "4", "amd64")])
    with pytest.raises(PigsaltError, match="not real packages on trixie: mail-transport-agent"):
        workspace.resolve(["mail-transport-agent"])


def test_collect_links_exactly_the_closure_and_prunes_the_cache(tmp_path: Path) -> None:
    workspace = AptWorkspace(tmp_path / "ws", load_recipe().release("bookworm"), "amd64")
    workspace.archives.mkdir(parents=True)
    keep, old = Deb("jq", "1.6", "amd64"), Deb("jq", "1.5", "amd64")
    (workspace.archives / keep.filename).write_bytes(b"new")
    (workspace.archives / old.filename).write_bytes(b"old")
    workspace.collect([keep], tmp_path / "apt")
    assert sorted(p.name for p in (tmp_path / "apt").iterdir()) == [keep.filename]
    assert sorted(p.name for p in workspace.archives.glob("*.deb")) == [keep.filename]
    with pytest.raises(
        PigsaltError, match=re.escape("apt download is incomplete: 1 archives missing, e.g. jq_1.5_amd64.deb")
    ):
        workspace.collect([old], tmp_path / "apt2")


def test_a_closure_is_reused_only_while_the_lists_and_the_request_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = AptWorkspace(tmp_path, load_recipe().release("trixie"), "amd64")
    workspace.prepare()
    release = tmp_path / "lists" / "deb.debian.org_debian_dists_trixie_InRelease"
    release.write_text("SHA256:\n abc 12 main/binary-amd64/Packages\n")
    monkeypatch.setattr(
        workspace, "simulate", lambda wanted: [Deb(name, "1", "all") for name in wanted if name == "jq"]
    )
    assert workspace.cached_resolution(["jq"]) is None
    closure = workspace.resolve(["jq"])
    assert closure == [Deb("jq", "1", "all")]
    assert workspace.cached_resolution(["jq"]) == closure
    assert workspace.cached_resolution(["jq", "curl"]) is None
    release.write_text("SHA256:\n def 12 main/binary-amd64/Packages\n")  # the mirror moved on
    assert workspace.cached_resolution(["jq"]) is None
