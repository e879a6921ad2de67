"""Packages a user adds to the offline repository (``pigsalt repo add FILE.deb``).

Debian does not ship everything Pigsty's meta node can run (Grafana), and the machines that
build the repository may reach no vendor repository, so a user brings the vendor's .deb. Each
file is kept under ``<repository>.added/<codename>/``, beside the repository, so that a rebuild
(``pigsalt repo build``) adds it again. For each release, apt (the build's private setup, on an
empty system) resolves what installing the added packages needs; what the release does not hold
yet is downloaded from the mirror and linked in beside them; the manifest records, per added
package, these dependencies (``apt.added_dependencies``), so that removing it removes those no
other added package needs. The caller indexes and signs the release again
(``pigsalt.repo.build.add_packages``).

A package the recipe already provides (``haproxy`` from the vendor, say) is refused: the nodes
would install whichever version is higher, and the repository is meant to say what they run.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.repo._util import last_line, run
from pigsalt.repo.apt import AptWorkspace, Deb, link_or_copy, parse_simulation

__all__ = ["AddedDeb", "added_dir", "held", "include", "inspect", "keep", "link", "plan"]

_FIELD = re.compile(r"^(?P<key>Package|Version|Architecture):\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True, order=True)
class AddedDeb:
    """One package file a user added, as its control file describes it."""

    name: str
    version: str
    arch: str
    path: Path

    @property
    def filename(self) -> str:
        """The name the file has in the repository and the store (apt's own convention)."""
        return Deb(self.name, self.version, self.arch).filename


def added_dir(dest: Path) -> Path:
    """Where the packages added to the repository at ``dest`` are kept, one directory per release."""
    return dest.parent / f"{dest.name}.added"


def inspect(path: Path, architecture: str) -> AddedDeb:
    """``path``'s name, version and architecture; an error naming the file when it is not a
    Debian package, or one built for neither ``architecture`` nor ``all``."""
    if not path.is_file():
        raise PigsaltError(f"{path}: no such file")
    proc = run(
        ["dpkg-deb", "--field", path, "Package", "Version", "Architecture"],
        what=f"dpkg-deb ({path.name})",
        check=False,
    )
    if proc.returncode != 0:
        raise PigsaltError(f"{path}: not a Debian package ({last_line(proc.stderr or proc.stdout)})")
    fields = {m["key"]: m["value"] for m in map(_FIELD.match, proc.stdout.splitlines()) if m}
    missing = [key for key in ("Package", "Version", "Architecture") if key not in fields]
    if missing:
        raise PigsaltError(f"{path}: its control file has no {', '.join(missing)}")
    if fields["Architecture"] not in (architecture, "all"):
        raise PigsaltError(f"{path}: built for {fields['Architecture']}, the repository is for {architecture} (or all)")
    return AddedDeb(fields["Package"], fields["Version"], fields["Architecture"], path)


def held(release_dir: Path, architecture: str) -> list[AddedDeb]:
    """The packages added for one release (``added_dir(dest) / codename``), sorted by name."""
    if not release_dir.is_dir():
        return []
    return sorted(inspect(path, architecture) for path in release_dir.glob("*.deb"))


def keep(debs: Iterable[AddedDeb], release_dir: Path) -> None:
    """Copy ``debs`` into the release's store, replacing any other version of the same package
    (package names hold no ``_``, so ``<name>_*.deb`` is that package's files alone)."""
    release_dir.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        for old in release_dir.glob(f"{deb.name}_*.deb"):
            if old.name != deb.filename:
                old.unlink()
        tmp = release_dir / f".{deb.filename}.tmp"
        shutil.copyfile(deb.path, tmp)
        tmp.chmod(0o644)
        tmp.replace(release_dir / deb.filename)


def include(workspace: AptWorkspace, apt_dir: Path, added: Sequence[AddedDeb], recipe: Iterable[str]) -> list[Deb]:
    """Link ``added`` and what installing them needs into ``apt_dir`` (one release, already
    holding its recipe's closure); their dependencies outside it (``plan`` then ``link``)."""
    extra = plan(workspace, added, recipe)
    link(workspace, apt_dir, added, extra)
    return extra


def plan(workspace: AptWorkspace, added: Sequence[AddedDeb], recipe: Iterable[str]) -> list[Deb]:
    """What ``added`` needs that the recipe's closure (``recipe``: its ``name=version``) does not
    hold, changing nothing; an error when apt cannot install them, or when one of them is a
    package of the closure (which an added package may not replace)."""
    if not added:
        return []
    held = set(recipe)
    clash = sorted({deb.name for deb in added} & {spec.split("=", 1)[0] for spec in held})
    if clash:
        raise PigsaltError(
            f"{', '.join(clash)}: already in the repository from {workspace.recipe.codename}'s archive; "
            "pigsalt repo add is for packages Debian does not ship"
        )
    names = {deb.name for deb in added}
    closure = _resolve(workspace, added)
    return [deb for deb in closure if deb.name not in names and f"{deb.name}={deb.version}" not in held]


def link(workspace: AptWorkspace, apt_dir: Path, added: Sequence[AddedDeb], extra: Sequence[Deb]) -> None:
    """Download what ``apt_dir`` lacks of ``extra`` and link it and ``added`` there, replacing an
    older version of an added package."""
    missing = [deb for deb in extra if not (apt_dir / deb.filename).is_file()]
    workspace.download(workspace.absent(missing))
    for deb in missing:
        link_or_copy(workspace.archives / deb.filename, apt_dir / deb.filename)
    names = {deb.name for deb in added}
    for stale in apt_dir.glob("*.deb"):
        if stale.name.split("_", 1)[0] in names and stale.name not in {deb.filename for deb in added}:
            stale.unlink()
    for package in added:
        link_or_copy(package.path, apt_dir / package.filename)


def _resolve(workspace: AptWorkspace, added: Sequence[AddedDeb]) -> list[Deb]:
    """What ``apt-get install`` of the files would install on an empty system of the release; an
    error naming the dependency apt cannot satisfy."""
    files = [str(deb.path.resolve()) for deb in added]
    proc = run(["apt-get", "-q", "-s", "install", *files], env=workspace.env(), what="apt-get (resolve)", check=False)
    codename = workspace.recipe.codename
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        unmet = [" ".join(line.split()) for line in text.splitlines() if " Depends: " in line or "PreDepends:" in line]
        raise PigsaltError(f"apt cannot install the added packages on {codename}: {(unmet or [last_line(text)])[0]}")
    closure = parse_simulation(proc.stdout)
    unresolved = {deb.name for deb in added} - {deb.name for deb in closure}
    if unresolved:
        raise PigsaltError(f"apt would not install {', '.join(sorted(unresolved))} on {codename}")
    return closure
