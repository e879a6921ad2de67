"""The repository recipe: the packaged file, its checks and its hash."""

from __future__ import annotations

import re

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo import recipe as recipe_mod
from pigsalt.repo.recipe import Recipe, load_recipe, recipe_hash
from tests.conftest import ROOT

# What the formulas install (the brief of the repository issue); each exists on bookworm.
FORMULA_PACKAGES = """
postgresql-15 postgresql-client-15 postgresql-contrib patroni python3-etcd python3-psycopg2 pgbouncer
haproxy etcd-server etcd-client prometheus prometheus-alertmanager prometheus-node-exporter
prometheus-postgres-exporter dnsmasq chrony nginx curl ca-certificates
python3-venv python3-pip gnupg iproute2 iputils-ping less sudo openssh-server pgbackrest jq procps
""".split()

GOOD = """
debian:
  release: bookworm
  keyring: /usr/share/keyrings/debian-archive-keyring.gpg
  sources:
    - {uri: http://mirror.invalid/debian, suites: [bookworm]}
apt:
  db: [postgresql-15, pgbouncer]
  more: [pgbouncer, jq]
pypi:
  python: /usr/bin/python3
  python_version: "3.11"
  requirements: [salt==3008.3, patroni]
"""


def test_packaged_recipe_lists_what_the_formulas_install() -> None:
    recipe = load_recipe()
    assert set(FORMULA_PACKAGES) <= set(recipe.packages)
    assert len(recipe.packages) == len(set(recipe.packages))
    assert recipe.release == "bookworm"
    assert recipe.install_recommends is True
    assert recipe.include_minbase is True
    assert recipe.python == "/usr/bin/python3"
    assert recipe.python_version == "3.11"


def test_packaged_recipe_pins_the_salt_of_the_constraints_file() -> None:
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    pinned = re.search(r"^salt==(\S+)$", constraints, re.MULTILINE)
    assert pinned is not None
    assert load_recipe().salt_version == pinned.group(1) == "3008.3"
    assert any(req.startswith("patroni[etcd3]") for req in load_recipe().requirements)


def test_recipe_packages_keep_order_and_drop_duplicates() -> None:
    recipe = Recipe.from_text(GOOD)
    assert recipe.packages == ("postgresql-15", "pgbouncer", "jq")
    assert recipe.groups == (("db", ("postgresql-15", "pgbouncer")), ("more", ("pgbouncer", "jq")))
    assert recipe.sources[0].lines("/k.gpg") == ["deb [signed-by=/k.gpg] http://mirror.invalid/debian bookworm main"]


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    bad = """
debian:
  sources:
    - {uri: ftp://x, suites: [bookworm]}
    - {uri: http://mirror.invalid/debian, suites: []}
  include_minbase: maybe
apt:
  db: [Postgres_15]
  empty: []
pypi:
  python_version: "3"
  requirements: [patroni]
"""
    with pytest.raises(PigsaltError) as err:
        Recipe.from_text(bad, origin="r.yml")
    assert err.value.message == (
        "r.yml: debian.sources.0.uri: expected an http(s):// or file: URI; "
        "debian.sources.1.suites: expected a non-empty list of suite names; "
        "apt.db.0: 'Postgres_15' is not a Debian package name; "
        "apt.empty: expected a non-empty list of package names; "
        "debian.release: expected a non-empty string; "
        "debian.keyring: expected a non-empty string; "
        "pypi.python: expected a non-empty string; "
        "pypi.python_version: expected a version such as '3.11'; "
        "debian.include_minbase: expected true or false"
    )


def test_salt_must_be_pinned() -> None:
    with pytest.raises(PigsaltError, match=r"must pin salt \(salt==VERSION\)"):
        Recipe.from_text(GOOD.replace("salt==3008.3", "salt"))


def test_not_yaml_is_one_line() -> None:
    with pytest.raises(PigsaltError) as err:
        Recipe.from_text("apt: [", origin="r.yml")
    assert err.value.message.startswith("r.yml: not valid YAML:")
    assert "\n" not in err.value.message


def test_hash_covers_recipe_constraints_requirements_and_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = Recipe.from_text(GOOD)
    base = recipe_hash(recipe, "a==1\n", "salt==3008.3")
    assert base == recipe_hash(Recipe.from_text(GOOD), "a==1\n", "salt==3008.3")
    assert len(base) == 64
    variants = {
        recipe_hash(Recipe.from_text(GOOD + "\n# a comment\n"), "a==1\n", "salt==3008.3"),
        recipe_hash(recipe, "a==2\n", "salt==3008.3"),
        recipe_hash(recipe, "a==1\n", "salt==3008.3\nclick"),
    }
    monkeypatch.setattr(recipe_mod, "BUILDER_VERSION", "999")
    variants.add(recipe_hash(recipe, "a==1\n", "salt==3008.3"))
    assert base not in variants
    assert len(variants) == 4
