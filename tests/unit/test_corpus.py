"""Every bad inventory in tests/corpus/bad gives its expected errors, exit 2, and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from tests.conftest import ROOT

CORPUS = sorted((ROOT / "tests" / "corpus" / "bad").glob("*.yml"))


def expectations(path: Path) -> list[tuple[str, str]]:
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            where, _, message = line[len("# expect: ") :].partition(": ")
            found.append((where, message))
    return found


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert all(expectations(p) for p in CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_inventory_gives_its_errors_and_writes_nothing(path: Path, tmp_path: Path):
    inventory = tmp_path / path.name
    shutil.copy(path, inventory)
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    errors = []
    for line in result.output.splitlines():
        if line.startswith("error: "):
            where, _, message = line[len("error: ") :].partition(": ")
            errors.append((where, message))
    for where, message in expectations(path):
        assert any(w == where and message in m for w, m in errors), (where, message, result.output)

    built = runner.invoke(main, ["pillar", "build", "-i", str(inventory), "-o", str(tmp_path / "out")])
    assert built.exit_code == 2
    assert built.output.startswith("Error: ") and built.output.count("\n") == 1, built.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
