"""Generated passwords: one set per cluster, stored once so that every rebuild gives the same pillar.

The store is a YAML file of mode 0600 in a directory of mode 0700::

    infra:                         # meta-node services
      grafana_admin_password: ...
    clusters:                      # one set per cluster: no node holds another cluster's
      pg-test:
        pg_admin_password: ...

Only an explicit step creates or completes it (``pigsalt pillar build``, which ``sandbox up``
runs): ``create``. Everything that only reads the inventory (the ext_pillar, ``validate``,
``pillar show``, a ``test=True`` run) uses ``read`` and ``resolve``, which never write: a missing
store or a cluster missing from it is one clear error, never a silent new password that would
no longer match the one the cluster's database holds. Passwords the inventory sets are never
copied into the store. A store readable by others is refused.

Stores written by earlier pigsalt releases (one flat ``{parameter: value}`` mapping shared by
every cluster) are still read; ``create`` converts them, keeping the values each existing
cluster already uses (``pigsalt secret rotate`` then gives each its own).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_atomic

SECRETS_FILE = "secrets.yml"
SECRETS_MODE = 0o600
DIR_MODE = 0o700
# Parameters whose value pigsalt generates when the inventory leaves them unset: per cluster
# (the database nodes of one cluster hold them) and for the meta nodes' own services.
CLUSTER_GENERATED = (
    "pg_admin_password",
    "pg_monitor_password",
    "pg_replication_password",
    "patroni_password",
    "haproxy_admin_password",
)
INFRA_GENERATED = ("grafana_admin_password", "etcd_root_password")
GENERATED = CLUSTER_GENERATED + INFRA_GENERATED
# Generated for every cluster, with no inventory parameter: its Patroni's etcd user's password.
CLUSTER_INTERNAL = ("patroni_etcd_password", "pgbackrest_cipher_pass")
# Generated once and kept: the passphrase that encrypts a cluster's backups cannot change under
# an existing repository (pgBackRest would read none of them back).
NEVER_ROTATED = frozenset({"pgbackrest_cipher_pass"})
HEADER = (
    "# pigsalt's generated passwords (one set per cluster). Written by `pigsalt pillar build`;\n"
    "# change one with `pigsalt secret rotate`. Keep this file 0600 and back it up with the inventory.\n"
)
MISSING = "<not generated yet: run pigsalt pillar build>"


@dataclass(frozen=True)
class Needs:
    """Which generated passwords an inventory uses: the infra ones and each cluster's."""

    infra: frozenset[str] = frozenset()
    clusters: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Store:
    """Stored passwords; ``legacy`` when read from a shared (pre-cluster) store."""

    infra: Mapping[str, str] = field(default_factory=dict)
    clusters: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    legacy: bool = False

    def cluster(self, name: str) -> Mapping[str, str]:
        return self.clusters.get(name, {})

    def to_yaml(self) -> str:
        data = {
            "infra": dict(sorted(self.infra.items())),
            "clusters": {n: dict(sorted(v.items())) for n, v in sorted(self.clusters.items())},
        }
        return HEADER + yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def secrets_path(inventory: Path) -> Path:
    """Where an inventory's store is read: ``<dir>/secrets.yml``, or ``<name>.secrets.yml``
    beside a single-file inventory (read only: ``pillar build`` writes the pillar directory's)."""
    if inventory.is_dir():
        return inventory / SECRETS_FILE
    return inventory.with_name(f"{inventory.stem}.secrets.yml")


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _strings(data: Any, where: str, path: Path) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise PigsaltError(f"{path}: {where} must map parameter names to strings")
    return dict(data)


def _parse(text: str, path: Path) -> Store:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise PigsaltError(f"{path}: not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise PigsaltError(f"{path}: secrets file must be a mapping")
    if data and all(isinstance(v, str) for v in data.values()):
        flat = _strings(data, "the store", path)
        return Store(infra=flat, legacy=True)
    unknown = sorted(set(data) - {"infra", "clusters"})
    if unknown:
        raise PigsaltError(f"{path}: unknown key {unknown[0]!r} (expected infra and clusters)")
    clusters = data.get("clusters") or {}
    if not isinstance(clusters, dict):
        raise PigsaltError(f"{path}: clusters must map cluster names to their passwords")
    return Store(
        infra=_strings(data.get("infra"), "infra", path),
        clusters={str(n): _strings(v, f"clusters.{n}", path) for n, v in clusters.items()},
    )


def read(path: Path, missing_ok: bool = False) -> Store:
    """The stored secrets. A missing file is an error unless ``missing_ok`` (an empty store)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if missing_ok:
            return Store()
        raise PigsaltError(
            f"{path}: the secrets store does not exist; `pigsalt pillar build` creates it "
            "(restore it from a backup if the clusters were deployed with it)"
        ) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PigsaltError(
            f"{path}: secrets file is accessible by others (mode {info.st_mode & 0o777:04o}); run chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PigsaltError(f"{path}: cannot read the secrets store: {err.strerror}") from None
    return _parse(text, path)


def _lookup(store: Store, cluster: str | None, name: str) -> str | None:
    if store.legacy:
        return store.infra.get(name)
    return (store.infra if cluster is None else store.cluster(cluster)).get(name)


def missing(store: Store, needs: Needs) -> list[str]:
    """``infra.<name>`` / ``clusters.<cluster>.<name>`` for each needed password the store lacks."""
    gaps = [f"infra.{n}" for n in sorted(needs.infra) if _lookup(store, None, n) is None]
    for cluster, names in sorted(needs.clusters.items()):
        gaps += [f"clusters.{cluster}.{n}" for n in sorted(names) if _lookup(store, cluster, n) is None]
    return gaps


def resolve(store: Store, needs: Needs, path: Path) -> Store:
    """``store`` as the compiler reads it (a legacy store gives every cluster its values);
    a needed password it lacks is an error naming it."""
    gaps = missing(store, needs)
    if gaps:
        more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
        raise PigsaltError(
            f"{path}: no generated password for {gaps[0]}{more}; run `pigsalt pillar build` to generate it"
        )
    return _expanded(store, needs)


def placeholders(store: Store, needs: Needs) -> Store:
    """``store`` with ``MISSING`` for each needed password it lacks (what ``pillar show`` prints)."""
    expanded = _expanded(store, needs)
    infra = {**{n: MISSING for n in needs.infra}, **expanded.infra}
    clusters = {c: {**{n: MISSING for n in names}, **expanded.cluster(c)} for c, names in needs.clusters.items()}
    return Store(infra=infra, clusters={**expanded.clusters, **clusters})


def _expanded(store: Store, needs: Needs) -> Store:
    if not store.legacy:
        return store
    flat = store.infra
    return Store(
        infra={n: flat[n] for n in INFRA_GENERATED if n in flat},
        clusters={c: {n: flat[n] for n in CLUSTER_GENERATED + CLUSTER_INTERNAL if n in flat} for c in needs.clusters},
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    _private_dir(path.parent)
    lock = path.with_name(f".{path.name}.lock")
    with open(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND, SECRETS_MODE), "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _private_dir(directory: Path) -> None:
    """``directory`` exists and only its owner can enter it (it holds a store)."""
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(DIR_MODE)
    except OSError as err:
        raise PigsaltError(f"{directory}: cannot prepare the secrets directory: {err.strerror}") from None


def _save(store: Store, path: Path) -> bool:
    return _write(path, store.to_yaml())


def _write(path: Path, text: str) -> bool:
    try:
        return write_atomic(path, text, SECRETS_MODE)
    except OSError as err:
        raise PigsaltError(f"{path}: cannot store generated secrets: {err.strerror}") from None


def create(path: Path, needs: Needs, adopt: Path | None = None) -> tuple[Store, bool]:
    """The explicit step: ``path`` completed with a new password for each needed one it lacks,
    and converted from a legacy store. ``adopt`` (a store beside a single-file inventory, from
    earlier releases) lends the values the store lacks first. Returns the store and whether the
    file changed."""
    with _locked(path):
        current = read(path, missing_ok=True)
        donors = [current] + ([read(adopt)] if adopt is not None and adopt != path and adopt.exists() else [])
        infra = dict(current.infra) if not current.legacy else {}
        clusters = {c: dict(v) for c, v in current.clusters.items()}
        for name in sorted(needs.infra):
            if name not in infra:
                infra[name] = _donated(donors, None, name) or new_password()
        for cluster, names in sorted(needs.clusters.items()):
            own = clusters.setdefault(cluster, {})
            for name in sorted(names):
                if name not in own:
                    own[name] = _donated(donors, cluster, name) or new_password()
        store = Store(infra=infra, clusters=clusters)
        return store, _save(store, path)


def _donated(donors: Iterable[Store], cluster: str | None, name: str) -> str | None:
    for donor in donors:
        value = _lookup(donor, cluster, name)
        if value is not None:
            return value
    return None


def rotate(path: Path, cluster: str, names: Iterable[str]) -> Store:
    """New passwords for ``names`` of ``cluster`` in the store at ``path``."""
    with _locked(path):
        current = read(path)
        if current.legacy:
            raise PigsaltError(f"{path}: the store has the shared format of earlier releases; run pigsalt pillar build")
        if cluster not in current.clusters:
            raise PigsaltError(f"{path}: no generated passwords for cluster {cluster}")
        clusters = {c: dict(v) for c, v in current.clusters.items()}
        clusters[cluster].update({name: new_password() for name in names})
        store = Store(infra=current.infra, clusters=clusters)
        _save(store, path)
        return store


def dump(store: Store | Mapping[str, str], path: Path) -> bool:
    """Write a store (0600, in a 0700 directory) holding exactly ``store``; True when it changed.
    A plain mapping is written as a legacy shared store (tests use it for fixed values)."""
    _private_dir(path.parent)
    if isinstance(store, Store):
        return _save(store, path)
    return _write(path, yaml.safe_dump(dict(sorted(store.items())), default_flow_style=False))
