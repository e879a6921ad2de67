"""pigsalt.repo.added and ``pigsalt repo add``'s refusals that need no repository: the control
fields of real .deb files (dpkg-deb), the store's versions, and bad input that changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pigsalt.cli import main
from pigsalt.errors import PigsaltError
from pigsalt.repo.added import added_dir, held, inspect, keep
from tests.conftest import build_deb


def test_inspect_reads_the_control_fields(tmp_path: Path):
    deb = inspect(build_deb(tmp_path, "grafana", version="11.4.0", arch="amd64"), "amd64")
    assert (deb.name, deb.version, deb.arch, deb.filename) == ("grafana", "11.4.0", "amd64", "grafana_11.4.0_amd64.deb")
    assert inspect(build_deb(tmp_path, "probe", version="1:2.0-1"), "amd64").filename == "probe_1%3a2.0-1_all.deb"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda tmp: tmp / "missing.deb", "missing.deb: no such file"),
        (lambda tmp: (tmp / "x.deb").write_text("not an archive") and tmp / "x.deb", "x.deb: not a Debian package"),
        (lambda tmp: build_deb(tmp, "probe", arch="arm64"), "built for arm64, the repository is for amd64 (or all)"),
    ],
    ids=["missing", "not-a-deb", "another-architecture"],
)
def test_inspect_refuses_in_one_line(tmp_path: Path, make, error: str):
    with pytest.raises(PigsaltError, match=None) as caught:
        inspect(make(tmp_path), "amd64")
    assert error in str(caught.value) and "\n" not in str(caught.value)


def test_keep_holds_one_version_per_package(tmp_path: Path):
    store = tmp_path / "repo.added" / "bookworm"
    keep([inspect(build_deb(tmp_path, "probe", version="1.0"), "amd64")], store)
    keep([inspect(build_deb(tmp_path, "probe-extra", version="1.0"), "amd64")], store)
    keep([inspect(build_deb(tmp_path, "probe", version="1.1"), "amd64")], store)
    assert [(d.name, d.version) for d in held(store, "amd64")] == [("probe", "1.1"), ("probe-extra", "1.0")]
    assert added_dir(tmp_path / "repo") == tmp_path / "repo.added"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["{tmp}/missing.deb"], "{tmp}/missing.deb: no such file"),
        (["{tmp}/ok.deb", "{tmp}/ok.deb"], "repo add: probe given more than once"),
        (["{tmp}/ok.deb"], "no repository at {tmp}/repo: run `pigsalt repo build` first"),
    ],
    ids=["missing-file", "twice", "no-repository"],
)
def test_repo_add_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path: Path, args: list[str], error: str):
    build_deb(tmp_path, "probe").rename(tmp_path / "ok.deb")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["repo", "add", "--dest", str(tmp_path / "repo"), *(a.format(tmp=tmp_path) for a in args)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [f"Error: {error.format(tmp=tmp_path)}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
