"""Build orchestration without the network: which releases to build, where, and what is reported."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.fileio import exchange
from pigsalt.repo import build as build_mod
from pigsalt.repo import ensure_repo, read_repo, repo_status, write_tarball
from pigsalt.repo.build import SourceTree, current_recipe_hashes
from pigsalt.repo.manifest import ReleasePlan, RepoInfo, missing_parts, plan_releases
from pigsalt.repo.pypi import source_hash
from pigsalt.repo.recipe import load_recipe

RELEASE_FILES = ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg")
WHEELS = {
    "bookworm": [
        "pigsalt-0.1.0-py3-none-any.whl",
        "salt-3008.3-py3-none-any.whl",
        "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    ],
    "trixie": [
        "pigsalt-0.1.0-py3-none-any.whl",
        "salt-3008.3-py3-none-any.whl",
        "timelib-0.3.0-cp313-cp313-linux_x86_64.whl",
    ],
}


def make_source(root: Path) -> Path:
    (root / "pigsalt").mkdir(parents=True)
    (root / "pigsalt" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (root / "requirements").mkdir()
    (root / "requirements" / "constraints.txt").write_text("salt==3008.3\n")
    (root / "setup.cfg").write_text("[options]\ninstall_requires =\n    salt==3008.3\n    click>=8.1\n")
    return root


def release_entry(codename: str, source: Path, **overrides: Any) -> dict[str, Any]:
    hashes = current_recipe_hashes(load_recipe(), SourceTree(source))
    entry: dict[str, Any] = {
        "recipe_hash": hashes[codename],
        "python": {"bookworm": "3.11", "trixie": "3.13"}[codename],
        "python_version": {"bookworm": "3.11.2", "trixie": "3.13.5"}[codename],
        "apt": {"requested": ["jq"], "packages": ["jq=1.6", "libc6=2.36"], "count": 2, "bytes": 3},
        "pypi": {"wheels": WHEELS[codename], "count": 3},
    }
    entry.update(overrides)
    return entry


def make_repo(dest: Path, source: Path, releases: dict[str, dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A repository with the files ``releases`` (codename → manifest entry) need, and its manifest."""
    for codename in releases:
        for name in RELEASE_FILES:
            (dest / "apt" / codename).mkdir(parents=True, exist_ok=True)
            (dest / "apt" / codename / name).write_text("x")
        (dest / "apt" / codename / "jq_1.6_amd64.deb").write_text("deb")
    (dest / "apt" / "pigsalt-archive-keyring.gpg").write_text("key")
    (dest / "pypi" / "simple").mkdir(parents=True, exist_ok=True)
    (dest / "pypi" / "simple" / "index.html").write_text("x")
    wheels = sorted({w for entry in releases.values() for w in entry["pypi"]["wheels"]})
    for name in wheels:
        (dest / "pypi" / name).write_text("whl")
    (dest / "pypi" / "SHA256SUMS").write_text(build_mod.wheel_sums(dest / "pypi"))
    (dest / "pypi" / "SHA256SUMS.gpg").write_text("signature")
    manifest: dict[str, Any] = {
        "format": 2,
        "pigsalt_source_hash": source_hash(source),
        "key_fingerprint": "ABCD",
        "built_at": "2025-05-20T12:00:00Z",
        "total_bytes": 12345,
        "releases": releases,
        "pypi": {"wheels": wheels, "count": len(wheels), "bytes": 4},
    }
    manifest.update(overrides)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("must not build")


class FakeBuild:
    """Stands in for ``_Build``: records the plan it was given."""

    plans: ClassVar[list[tuple[Path, ReleasePlan, bool]]] = []

    def __init__(self, dest: Path, recipe: object, tree: object, plan: ReleasePlan, *args: object) -> None:
        self.dest, self.plan = dest, plan

    def run(self, force: bool) -> str:
        FakeBuild.plans.append((self.dest, self.plan, force))
        return "built"


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, ReleasePlan, bool]]:
    FakeBuild.plans = []
    monkeypatch.setattr(build_mod, "_Build", FakeBuild)
    return FakeBuild.plans


# --- which releases a build makes ----------------------------------------------------------------

WANTED = {"bookworm": "hb", "trixie": "ht"}


def manifest_of(**releases: str) -> dict[str, Any]:
    return {"format": 2, "releases": {c: {"recipe_hash": h} for c, h in releases.items()}}


@pytest.mark.parametrize(
    ("manifest", "requested", "incomplete", "rebuild", "expected"),
    [
        # An empty place: what is asked for.
        (None, ["bookworm"], (), False, ReleasePlan(build=("bookworm",), reasons={"bookworm": "missing"})),
        # trixie added to a current bookworm: only trixie is built.
        (
            manifest_of(bookworm="hb"),
            ["trixie"],
            (),
            False,
            ReleasePlan(build=("trixie",), keep=("bookworm",), reasons={"trixie": "missing"}),
        ),
        # Everything asked for is current: nothing to do (a stale other release waits for its turn).
        (manifest_of(bookworm="hb", trixie="old"), ["bookworm"], (), False, ReleasePlan(keep=("bookworm", "trixie"))),
        # Something must be built: the stale release the repository holds is rebuilt with it.
        (
            manifest_of(bookworm="old"),
            ["trixie"],
            (),
            False,
            ReleasePlan(
                build=("bookworm", "trixie"),
                reasons={"bookworm": "built from another recipe", "trixie": "missing"},
            ),
        ),
        # pigsalt repo build: asked for means rebuilt; the current other one is kept.
        (
            manifest_of(bookworm="hb", trixie="ht"),
            ["trixie"],
            (),
            True,
            ReleasePlan(build=("trixie",), keep=("bookworm",), reasons={"trixie": "rebuild asked"}),
        ),
        (
            manifest_of(bookworm="hb"),
            ["bookworm"],
            ["bookworm"],
            False,
            ReleasePlan(build=("bookworm",), reasons={"bookworm": "incomplete"}),
        ),
        # A release the recipe no longer has is dropped; a manifest of the flat layout counts as none.
        (
            manifest_of(bookworm="hb", sid="x"),
            ["trixie"],
            (),
            False,
            ReleasePlan(build=("trixie",), keep=("bookworm",), drop=("sid",), reasons={"trixie": "missing"}),
        ),
        (
            {"format": 1, "recipe_hash": "hb"},
            ["bookworm"],
            (),
            False,
            ReleasePlan(build=("bookworm",), reasons={"bookworm": "missing"}),
        ),
    ],
)
def test_plan_builds_what_is_asked_and_out_of_date(
    manifest: dict[str, Any] | None,
    requested: list[str],
    incomplete: tuple[str, ...],
    rebuild: bool,
    expected: ReleasePlan,
) -> None:
    assert plan_releases(manifest, WANTED, requested, incomplete, rebuild=rebuild) == expected


def test_plan_describes_why() -> None:
    plan = plan_releases(manifest_of(bookworm="old"), WANTED, ["trixie"])
    assert plan.describe() == "bookworm (built from another recipe), trixie (missing)"


def test_missing_parts_are_per_release_and_shared_ones_count_for_all(tmp_path: Path) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    manifest = make_repo(dest, source, {c: release_entry(c, source) for c in ("bookworm", "trixie")})
    assert missing_parts(dest, manifest) == {"bookworm": [], "trixie": []}
    (dest / "apt" / "trixie" / "InRelease").unlink()
    (dest / "pypi" / WHEELS["trixie"][2]).unlink()
    assert missing_parts(dest, manifest) == {
        "bookworm": [],
        "trixie": ["apt/trixie/InRelease", f"pypi/{WHEELS['trixie'][2]}"],
    }
    (dest / "apt" / "pigsalt-archive-keyring.gpg").unlink()
    assert missing_parts(dest, manifest)["bookworm"] == ["apt/pigsalt-archive-keyring.gpg"]
    assert missing_parts(dest, None) == {}


# --- ensure_repo / build_repo ----------------------------------------------------------------------


def test_source_tree_knows_its_constraints_and_requirements(tmp_path: Path) -> None:
    tree = SourceTree.find(make_source(tmp_path))
    assert tree.constraints == tmp_path / "requirements" / "constraints.txt"
    assert tree.install_requires() == "salt==3008.3\nclick>=8.1"
    with pytest.raises(PigsaltError, match="is not a pigsalt source checkout"):
        SourceTree.find(tmp_path / "pigsalt")


def test_ensure_repo_reuses_an_up_to_date_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {c: release_entry(c, source) for c in ("bookworm", "trixie")})
    monkeypatch.setattr(build_mod, "_Build", no_build)
    monkeypatch.setattr(build_mod, "_refresh_pigsalt", no_build)
    messages: list[str] = []
    info = ensure_repo(dest, releases=["trixie"], progress=messages.append, source=source, cache_dir=tmp_path / "c")
    assert info.path == dest
    assert info.releases == ("bookworm", "trixie")
    assert info.release_dir("trixie") == dest / "apt" / "trixie"
    assert info.apt_dir == dest / "apt"
    assert info.pypi_dir == dest / "pypi"
    assert info.keyring == dest / "apt" / "pigsalt-archive-keyring.gpg"
    assert info.python_versions == {"bookworm": "3.11", "trixie": "3.13"}
    assert info.packages == {"bookworm": ("jq", "libc6"), "trixie": ("jq", "libc6")}
    assert info.requested == {"bookworm": ("jq",), "trixie": ("jq",)}
    assert info.wheels == tuple(sorted(set(WHEELS["bookworm"] + WHEELS["trixie"])))
    assert messages == [f"repo: {dest} is up to date: bookworm (2 debs), trixie (2 debs), 4 wheels"]


class FakeKey:
    """The repository's signing key, as far as re-signing the wheelhouse needs it."""

    def __init__(self, fingerprint: str | None) -> None:
        self._fingerprint = fingerprint
        self.signed: list[Path] = []

    def fingerprint(self) -> str | None:
        return self._fingerprint

    def sign_detached(self, path: Path, fingerprint: str) -> Path:
        self.signed.append(path)
        signature = path.with_name(path.name + ".gpg")
        signature.write_text(f"signed by {fingerprint}")
        return signature


def test_a_stale_wheelhouse_list_is_signed_again_with_the_repositorys_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    next((dest / "pypi").glob("*.whl")).write_text("rebuilt")
    key = FakeKey("ABCD")
    verified: list[Path] = []
    monkeypatch.setattr(build_mod, "_Build", no_build)
    monkeypatch.setattr(build_mod, "SigningKey", lambda key_dir: key)
    monkeypatch.setattr(build_mod, "verify_detached", lambda path, keyring: verified.append(path))
    messages: list[str] = []
    ensure_repo(dest, releases=["bookworm"], progress=messages.append, source=source, cache_dir=tmp_path / "c")
    sums = dest / "pypi" / "SHA256SUMS"
    assert key.signed == [sums] and verified == [sums]
    assert build_mod.wheelhouse_signed(dest / "pypi")
    assert "pypi: signing the wheelhouse's SHA256SUMS" in messages


def test_a_stale_wheelhouse_list_without_the_repositorys_key_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    (dest / "pypi" / "SHA256SUMS").unlink()
    monkeypatch.setattr(build_mod, "_Build", no_build)
    monkeypatch.setattr(build_mod, "SigningKey", lambda key_dir: FakeKey("OTHER"))
    with pytest.raises(PigsaltError, match=r"the key that signed the repository \(ABCD\) is not in .*--force"):
        ensure_repo(dest, releases=["bookworm"], source=source, cache_dir=tmp_path / "c")
    assert not (dest / "pypi" / "SHA256SUMS").exists()


def test_adding_a_release_builds_only_that_one(tmp_path: Path, fake_build: list[Any]) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    messages: list[str] = []
    built: object = ensure_repo(dest, releases=("trixie",), progress=messages.append, source=source)
    assert built == "built"
    assert fake_build == [
        (dest, ReleasePlan(build=("trixie",), keep=("bookworm",), reasons={"trixie": "missing"}), False)
    ]
    assert messages == [f"repo: {dest}: building trixie (missing)"]


def test_ensure_repo_rebuilds_only_pigsalt_when_its_code_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)}, pigsalt_source_hash="old")
    refreshed: list[Path] = []
    monkeypatch.setattr(build_mod, "_Build", no_build)
    monkeypatch.setattr(build_mod, "_refresh_pigsalt", lambda dest, *a: refreshed.append(dest))
    ensure_repo(dest, source=source, cache_dir=tmp_path / "cache")
    assert refreshed == [dest]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda dest: (dest / "manifest.json").unlink(), "missing"),
        (lambda dest: (dest / "apt" / "bookworm" / "InRelease").unlink(), "incomplete"),
        (lambda dest: (dest / "pypi" / "simple" / "index.html").unlink(), "incomplete"),
        (
            lambda dest: (dest / "manifest.json").write_text(json.dumps({"format": 1, "recipe_hash": "x"})),
            "missing",
        ),
    ],
)
def test_ensure_repo_builds_when_missing_incomplete_or_stale(
    tmp_path: Path, fake_build: list[Any], change: Any, reason: str
) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    change(dest)
    messages: list[str] = []
    ensure_repo(dest, progress=messages.append, source=source, cache_dir=tmp_path / "cache")
    assert [(d, p.build, p.reasons, f) for d, p, f in fake_build] == [
        (dest, ("bookworm",), {"bookworm": reason}, False)
    ]
    assert messages == [f"repo: {dest}: building bookworm ({reason})"]


def test_build_repo_rebuilds_every_release_of_the_recipe_by_default(tmp_path: Path, fake_build: list[Any]) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {c: release_entry(c, source) for c in ("bookworm", "trixie")})
    build_mod.build_repo(dest, source=source, force=True)
    build_mod.build_repo(dest, releases=["trixie"], source=source)
    assert [(p.build, p.keep, f) for _, p, f in fake_build] == [
        (("bookworm", "trixie"), (), True),
        (("trixie",), ("bookworm",), False),
    ]


def test_an_unknown_release_is_refused_before_anything_happens(tmp_path: Path, fake_build: list[Any]) -> None:
    source = make_source(tmp_path / "src")
    with pytest.raises(PigsaltError, match=r"no release 'sid' \(it has bookworm, trixie\)"):
        ensure_repo(tmp_path / "repo", releases=["sid"], source=source)
    with pytest.raises(TypeError, match="not a string"):
        ensure_repo(tmp_path / "repo", releases="trixie", source=source)
    assert fake_build == []


def test_a_release_the_repository_lacks_has_no_directory(tmp_path: Path) -> None:
    info = RepoInfo(tmp_path, tmp_path / "apt", tmp_path / "pypi", tmp_path / "apt" / "k.gpg", ("bookworm",))
    assert info.release_dir("bookworm") == tmp_path / "apt" / "bookworm"
    with pytest.raises(PigsaltError) as err:
        info.release_dir("trixie")
    assert err.value.message == (
        f"the repository at {tmp_path} holds no trixie (it has bookworm): run `pigsalt repo build --release trixie`"
    )


# --- the rest --------------------------------------------------------------------------------------


def test_places_that_must_not_be_replaced(tmp_path: Path) -> None:
    check = build_mod._check_places
    with pytest.raises(PigsaltError, match="refusing to build a repository at /"):
        check(Path("/"), True, tmp_path / "key", tmp_path / "cache")
    with pytest.raises(PigsaltError, match=r"the signing key directory .* must not contain each other"):
        check(tmp_path / "repo", True, tmp_path / "repo" / "key", tmp_path / "cache")
    with pytest.raises(PigsaltError, match=r"the cache directory .* must not contain each other"):
        check(tmp_path / "repo", True, tmp_path / "key", tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(PigsaltError, match="is not empty and holds no pigsalt repository: use --force"):
        check(tmp_path / "home", False, tmp_path / "key", tmp_path / "cache")
    check(tmp_path / "home", True, tmp_path / "key", tmp_path / "cache")
    check(tmp_path / "new", False, tmp_path / "key", tmp_path / "cache")


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("atomic", [True, False], ids=["exchange", "aside"])
def test_swap_replaces_the_contents_and_keeps_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    """A bind mount of the repository (the sandbox's meta) follows its inode: the build replaces
    what the directory holds, not the directory, whether or not the file system can exchange."""
    if not atomic:
        monkeypatch.setattr(build_mod, "exchange", lambda a, b: False)
    repo, staging = tmp_path / "repo", tmp_path / "staging"
    _tree(repo, {"apt/trixie/Release": "old", "pypi/a.whl": "old", "manifest.json": "old", "gone/x": "old"})
    _tree(staging, {"apt/trixie/Release": "new", "pypi/b.whl": "new", "manifest.json": "new"})
    inode = repo.stat().st_ino
    held = os.open(repo, os.O_RDONLY)  # what a bind mount holds: the directory itself
    try:
        build_mod._swap(staging, repo)
        seen = {name: (Path(f"/proc/self/fd/{held}") / name).read_text() for name in ("manifest.json",)}
    finally:
        os.close(held)
    assert repo.stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    assert _files(repo) == {"apt/trixie/Release": "new", "manifest.json": "new", "pypi/b.whl": "new"}
    assert seen == {"manifest.json": "new"}


def test_swap_into_a_missing_directory_creates_it(tmp_path: Path) -> None:
    _tree(tmp_path / "staging", {"manifest.json": "new", "apt/x": "new"})
    build_mod._swap(tmp_path / "staging", tmp_path / "repo")
    assert _files(tmp_path / "repo") == {"apt/x": "new", "manifest.json": "new"}
    assert not (tmp_path / "staging").exists()


def test_exchange_swaps_two_directories_in_place(tmp_path: Path) -> None:
    _tree(tmp_path, {"a/one": "a", "b/two": "b"})
    assert exchange(tmp_path / "a", tmp_path / "b")  # ext4 and tmpfs, where the tests run
    assert _files(tmp_path) == {"a/two": "b", "b/one": "a"}


def test_a_kept_release_keeps_its_wheels_with_the_current_pigsalt() -> None:
    assert build_mod._with_pigsalt(
        ["salt-1-py3-none-any.whl", "pigsalt-0.0.9-py3-none-any.whl"], "pigsalt-0.1.0-py3-none-any.whl"
    ) == [
        "pigsalt-0.1.0-py3-none-any.whl",
        "salt-1-py3-none-any.whl",
    ]


def test_read_repo_without_a_repository(tmp_path: Path) -> None:
    with pytest.raises(PigsaltError, match=f"no repository at {tmp_path}: run `pigsalt repo build`"):
        read_repo(tmp_path)
    (tmp_path / "manifest.json").write_text("[]")
    with pytest.raises(PigsaltError, match="not a pigsalt repository manifest"):
        read_repo(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 1}')
    with pytest.raises(PigsaltError, match=r"written by another pigsalt \(manifest format 1, expected 2\)"):
        read_repo(tmp_path)


def test_status_reports_missing_parts_signatures_and_staleness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert repo_status(tmp_path / "none").problems == (
        f"no repository at {tmp_path / 'none'}: run `pigsalt repo build`",
    )
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(
        dest,
        source,
        {"bookworm": release_entry("bookworm", source, recipe_hash="old"), "trixie": release_entry("trixie", source)},
    )
    checked: list[Path] = []
    monkeypatch.setattr(build_mod, "verify_release", lambda apt_dir, keyring: checked.append(apt_dir))
    monkeypatch.setattr(build_mod, "verify_detached", lambda path, keyring: checked.append(path))
    state = repo_status(dest, source=source)
    assert checked == [dest / "apt" / "bookworm", dest / "apt" / "trixie", dest / "pypi" / "SHA256SUMS"]
    assert state.signature_ok is True
    assert state.problems == ()
    assert state.current_hashes == current_recipe_hashes(load_recipe(), SourceTree(source))
    assert (state.fresh("bookworm"), state.fresh("trixie")) == (False, True)
    assert state.up_to_date is False
    # A wheel that changed after the list was signed: the wheelhouse is not signed any more.
    wheel = next((dest / "pypi").glob("*.whl"))
    wheel.write_text("changed")
    state = repo_status(dest, source=source)
    assert state.problems == ("pypi: SHA256SUMS is missing, stale or unsigned: run `pigsalt repo build`",)
    assert state.signature_ok is False
    (dest / "pypi" / "SHA256SUMS").write_text(build_mod.wheel_sums(dest / "pypi"))
    (dest / "apt" / "trixie" / "Release.gpg").unlink()
    state = repo_status(dest, source=source)
    assert state.problems == ("missing apt/trixie/Release.gpg",)
    assert state.signature_ok is None
    (dest / "manifest.json").write_text('{"format": 1}')
    assert repo_status(dest).info is None


def test_tarball_holds_the_tree_under_repo(tmp_path: Path) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    messages: list[str] = []
    tarball = write_tarball(dest, tmp_path / "out" / "repo.tar.gz", progress=messages.append)
    with tarfile.open(tarball) as archive:
        names = sorted(archive.getnames())
        owners = {(m.uid, m.gid, m.uname) for m in archive.getmembers()}
    assert names[0] == "repo"
    assert "repo/apt/bookworm/jq_1.6_amd64.deb" in names
    assert "repo/manifest.json" in names
    assert owners == {(0, 0, "root")}
    assert messages[0] == f"tarball: writing {tarball}"
    assert list((tmp_path / "out").iterdir()) == [tarball]
    with pytest.raises(PigsaltError, match="cannot be written inside the repository"):
        write_tarball(dest, dest / "x.tar.gz")


def test_file_system_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_source(tmp_path / "src")

    class Denied(FakeBuild):
        def run(self, force: bool) -> str:
            raise PermissionError(13, "Permission denied", "/var/lib/pigsalt/cache/repo")

    monkeypatch.setattr(build_mod, "_Build", Denied)
    with pytest.raises(PigsaltError) as err:
        build_mod.build_repo(tmp_path / "repo", source=source)
    assert err.value.message == (
        "repo: /var/lib/pigsalt/cache/repo: Permission denied (building the repository needs root)"
    )


# --- the Python half -----------------------------------------------------------------------------


def test_each_release_gets_the_locks_wheels_and_shares_what_it_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every release built in its own root, in recipe order; a wheel made for one (or kept) is
    offered to the next; pigsalt's own wheel from the lock's build requirements, offline."""
    made: list[tuple[str, str, list[str]]] = []

    class FakeWheels:
        def __init__(self, release: Any, locked: Any, **kwargs: Any) -> None:
            self.release, self.locked, self.kwargs = release, locked, kwargs
            self.label = f"Python {release.python_version} ({release.codename})"

        def python_version(self) -> str:
            return {"3.11": "3.11.2", "3.13": "3.13.5"}[self.release.python_version]

        def build(self, shared: dict[str, Path], out: Path) -> list[str]:
            made.append((self.release.codename, self.locked.python, sorted(shared)))
            out.mkdir(parents=True)
            tag = "cp" + self.locked.python.replace(".", "")
            name = f"timelib-0.3.0-{tag}-{tag}-linux_x86_64.whl"
            (out / name).write_text("x")
            return [name]

        def check(self, wheelhouse: Path) -> None:
            pass

    downloads: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(build_mod, "ReleaseWheels", FakeWheels)
    monkeypatch.setattr(build_mod.WheelBuilder, "prepare", lambda self: "3.11.2")
    monkeypatch.setattr(
        build_mod.WheelBuilder,
        "download",
        lambda self, files, part, index_url, dest, label: downloads.append((part.python, [f.name for f in files])),
    )
    monkeypatch.setattr(
        build_mod.WheelBuilder,
        "build_pigsalt",
        lambda self, source, out, work, links: Path(f"/built-from/{links.name}/pigsalt-0.1.0-py3-none-any.whl"),
    )
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    make_repo(dest, source, {"bookworm": release_entry("bookworm", source)})
    recipe = load_recipe()
    plan = ReleasePlan(build=("trixie",), keep=("bookworm",), reasons={"trixie": "missing"})
    manifest = json.loads((dest / "manifest.json").read_text())
    build = build_mod._Build(
        dest, recipe, SourceTree(source), plan, manifest, tmp_path / "key", tmp_path / "cache", None
    )
    ready: Any = build_mod.Future()
    ready.set_result(Path("/root"))
    built, pigsalt_wheel = build.python_half({"trixie": (object(), ready)})

    # trixie is offered what the kept bookworm holds (pigsalt's wheel apart), from the repository.
    assert made == [("trixie", "3.13", ["salt-3008.3-py3-none-any.whl", "timelib-0.3.0-cp311-cp311-linux_x86_64.whl"])]
    assert built["trixie"].names == ["timelib-0.3.0-cp313-cp313-linux_x86_64.whl"]
    assert built["trixie"].python_version == "3.13.5"
    # pigsalt's wheel: the host Python's locked build requirements, then an offline build.
    pure = [f.name for f in build.lock.python("3.11").build if f.file.endswith("-none-any.whl")]
    assert "setuptools" in pure and "wheel" in pure and "cython" not in pure
    assert downloads == [("3.11", pure)]
    assert pigsalt_wheel == Path("/built-from/pigsalt-links/pigsalt-0.1.0-py3-none-any.whl")


def test_a_build_refuses_a_lock_for_another_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, dest = make_source(tmp_path / "src"), tmp_path / "repo"
    plan = ReleasePlan(build=("bookworm",), reasons={"bookworm": "missing"})
    build = build_mod._Build(
        dest, load_recipe(), SourceTree(source), plan, None, tmp_path / "key", tmp_path / "cache", None
    )
    monkeypatch.setattr(build_mod.os, "uname", lambda: os.uname_result(("Linux", "h", "6", "#1", "aarch64")))
    with pytest.raises(PigsaltError) as err:
        build.run(False)
    assert err.value.message == (
        "the wheel lock holds x86_64 wheels for Python 3.11, this machine is aarch64: run `pigsalt repo lock` here"
    )
