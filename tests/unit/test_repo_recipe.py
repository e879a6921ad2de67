"""The repository recipe: the packaged file, its per-release groups, its checks and its hashes."""

from __future__ import annotations

import re

import pytest

from pigsalt.debian import AptSource
from pigsalt.errors import PigsaltError
from pigsalt.repo import recipe as recipe_mod
from pigsalt.repo.recipe import Recipe, load_recipe, recipe_hash
from tests.conftest import ROOT

# What the formulas install on every release (each name checked against both releases' lists).
SHARED_PACKAGES = """
patroni python3-etcd python3-psycopg2 pgbouncer haproxy etcd-server etcd-client prometheus
prometheus-alertmanager prometheus-node-exporter prometheus-postgres-exporter dnsmasq chrony nginx curl
ca-certificates python3-venv python3-pip gnupg iproute2 iputils-ping nftables less sudo openssh-server pgbackrest
jq procps
""".split()

GOOD = """
debian:
  keyring: /usr/share/keyrings/debian-archive-keyring.gpg
apt:
  db: [pgbouncer]
  more: [pgbouncer, jq]
releases:
  bookworm:
    sources:
      - {uri: http://mirror.invalid/debian, suites: [bookworm]}
    apt:
      db: [postgresql-15]
  trixie:
    apt:
      db: [postgresql-17, pgbouncer]
      exporters: [prometheus-pgbouncer-exporter]
pypi:
  python: /usr/bin/python3
  requirements: [salt==3008.3, patroni]
  build_requirements: [Cython]
  builder_packages: [python3, gcc]
"""


def test_packaged_recipe_has_both_releases_with_their_own_postgres() -> None:
    recipe = load_recipe()
    assert recipe.codenames == ("bookworm", "trixie")
    bookworm, trixie = recipe.release("bookworm"), recipe.release("trixie")
    assert set(SHARED_PACKAGES) <= set(bookworm.packages)
    assert set(SHARED_PACKAGES) <= set(trixie.packages)
    assert set(bookworm.packages) - set(trixie.packages) == {
        "postgresql-15",
        "postgresql-client-15",
        "postgresql-contrib",
    }
    assert set(trixie.packages) - set(bookworm.packages) == {
        "postgresql-17",
        "postgresql-client-17",
        "postgresql-17-pgvector",
        "prometheus-pgbouncer-exporter",
    }
    for part in (bookworm, trixie):
        assert len(part.packages) == len(set(part.packages))
        assert part.install_recommends is True
        assert part.include_minbase is True
        assert part.sources == ()  # the build machine's own archives
    assert (bookworm.python_version, trixie.python_version) == ("3.11", "3.13")
    assert recipe.python == "/usr/bin/python3"
    assert recipe.build_requirements == (
        "Cython",
        "setuptools",
        "wheel",
        "looseversion",
        "packaging",
        "importlib-metadata>=8.7.0",
    )
    assert recipe.builder_packages == ("python3", "python3-venv", "python3-dev", "gcc")


def test_packaged_recipe_pins_the_salt_of_the_constraints_file() -> None:
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    pinned = re.search(r"^salt==(\S+)$", constraints, re.MULTILINE)
    assert pinned is not None
    assert load_recipe().salt_version == pinned.group(1) == "3008.3"
    assert any(req.startswith("patroni[etcd3]") for req in load_recipe().requirements)


def test_a_release_adds_its_names_to_the_shared_groups() -> None:
    recipe = Recipe.from_text(GOOD)
    bookworm, trixie = recipe.release("bookworm"), recipe.release("trixie")
    assert bookworm.groups == (("db", ("pgbouncer", "postgresql-15")), ("more", ("pgbouncer", "jq")))
    assert trixie.groups == (
        ("db", ("pgbouncer", "postgresql-17")),
        ("more", ("pgbouncer", "jq")),
        ("exporters", ("prometheus-pgbouncer-exporter",)),
    )
    assert trixie.packages == ("pgbouncer", "postgresql-17", "jq", "prometheus-pgbouncer-exporter")
    assert bookworm.sources == (AptSource("http://mirror.invalid/debian", ("bookworm",)),)
    assert bookworm.effective_sources() == bookworm.sources
    assert (bookworm.keyring, trixie.keyring) == ("/usr/share/keyrings/debian-archive-keyring.gpg",) * 2


def test_an_unknown_release_is_an_error_naming_the_choices() -> None:
    with pytest.raises(PigsaltError, match=re.escape("repo recipe: no release 'sid' (it has bookworm, trixie)")):
        Recipe.from_text(GOOD).release("sid")


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    bad = """
debian:
  include_minbase: maybe
apt:
  db: [Postgres_15]
  empty: []
releases:
  bookworm:
    sources:
      - {uri: ftp://x, suites: [bookworm]}
      - {uri: http://mirror.invalid/debian, suites: []}
    apt:
      db: [postgresql_15]
    extra: 1
  sid: {}
  trixie: [postgresql-17]
pypi:
  requirements: [patroni]
  builder_packages: [Python3]
"""
    with pytest.raises(PigsaltError) as err:
        Recipe.from_text(bad, origin="r.yml")
    assert err.value.message.split("; ") == [
        "r.yml: apt.db.0: 'Postgres_15' is not a Debian package name",
        "apt.empty: expected a non-empty list of package names",
        "debian.keyring: expected a non-empty string",
        "debian.include_minbase: expected true or false",
        "releases.bookworm: unknown keys extra (expected apt, sources)",
        "releases.bookworm.apt.db.0: 'postgresql_15' is not a Debian package name",
        "releases.bookworm.sources.0.uri: expected an http(s):// or file: URI",
        "releases.bookworm.sources.1.suites: expected a non-empty list of suite names",
        "releases.sid: unknown Debian release (expected one of bookworm, trixie)",
        "releases.trixie: expected a mapping (apt, sources)",
        "pypi.python: expected a non-empty string",
        "pypi.build_requirements: expected a non-empty list of strings",
        "pypi.builder_packages.0: 'Python3' is not a Debian package name",
    ]


def test_releases_and_groups_are_required() -> None:
    with pytest.raises(PigsaltError) as err:
        Recipe.from_text("debian: {keyring: /k}\npypi: {python: /p, requirements: [salt==1]}\n", origin="r.yml")
    message = err.value.message
    assert "apt: expected a mapping of groups, each a list of Debian package names" in message
    assert "releases: expected a mapping of Debian codenames (bookworm, trixie...)" in message


def test_salt_must_be_pinned() -> None:
    with pytest.raises(PigsaltError, match=r"must pin salt \(salt==VERSION\)"):
        Recipe.from_text(GOOD.replace("salt==3008.3", "salt"))


def test_not_yaml_is_one_line() -> None:
    with pytest.raises(PigsaltError) as err:
        Recipe.from_text("apt: [", origin="r.yml")
    assert err.value.message.startswith("r.yml: not valid YAML:")
    assert "\n" not in err.value.message


def test_each_release_has_its_own_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = Recipe.from_text(GOOD)

    def both(text: str = GOOD, requires: str = "salt==3008.3", lock: str = "lock") -> tuple[str, str]:
        changed = Recipe.from_text(text)
        return recipe_hash(changed, "bookworm", requires, lock), recipe_hash(changed, "trixie", requires, lock)

    base = both()
    assert len(set(base)) == 2
    assert all(len(h) == 64 for h in base)
    # Comments and layout do not count; one release's lines count for that release only.
    assert both(GOOD + "\n# a comment\n") == base
    only_trixie = both(GOOD.replace("exporters: [prometheus-pgbouncer-exporter]", "exporters: [jq]"))
    assert only_trixie[0] == base[0] and only_trixie[1] != base[1]
    only_bookworm = both(GOOD.replace("suites: [bookworm]}", "suites: [bookworm, bookworm-updates]}"))
    assert only_bookworm[0] != base[0] and only_bookworm[1] == base[1]
    # What both share changes both.
    for changed in (
        both(GOOD.replace("more: [pgbouncer, jq]", "more: [jq]")),
        both(GOOD.replace("[salt==3008.3, patroni]", "[salt==3008.3, patroni<5]")),
        both(GOOD.replace("[Cython]", "[Cython<4]")),
        both(GOOD.replace("[python3, gcc]", "[python3, gcc, make]")),
        both(requires="salt==3008.3\nclick"),
        # The wheel lock's part for the release's Python (build.current_recipe_hashes passes each its own).
        both(lock="another lock"),
    ):
        assert changed[0] != base[0] and changed[1] != base[1]
    monkeypatch.setattr(recipe_mod, "BUILDER_VERSION", "999")
    assert recipe_hash(recipe, "bookworm", "salt==3008.3", "lock") != base[0]
