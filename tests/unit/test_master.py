"""`pigsalt master setup` and `minion-config`: rendering, writing, the CLI."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import yaml
from click.testing import CliRunner

from pigsalt import master as master_lib
from pigsalt.cli import main
from pigsalt.errors import PigsaltError
from pigsalt.master import (
    MasterSettings,
    MinionSettings,
    Reactor,
    find_reactors,
    master_config,
    render_master_config,
    render_minion_config,
    setup,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("salt", "pillar", "_modules", "_states"):
        (root / name).mkdir(parents=True)
    return root


def settings_for(project: Path, tmp_path: Path, **kwargs: object) -> MasterSettings:
    return MasterSettings(
        project_dir=project,
        inventory_dir=project / "pillar" / "inventory",
        config_dir=tmp_path / "etc-salt",
        extensions_dir=tmp_path / "extensions",
        **kwargs,  # type: ignore[arg-type]
    )


def test_master_config(project: Path, tmp_path: Path) -> None:
    assert master_config(settings_for(project, tmp_path, master_id="meta_master")) == {
        "id": "meta_master",
        "file_roots": {"base": [str(project / "salt"), str(tmp_path / "extensions")]},
        "pillar_roots": {"base": [str(project / "pillar")]},
        "ext_pillar": [{"pigsalt": {"inventory": str(project / "pillar" / "inventory")}}],
        "auto_accept": False,
        "open_mode": False,
    }


def test_the_cmdb_as_pillar_source_is_one_key_of_the_ext_pillar(project: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["master", "setup", "--print", "--project", str(project), "--pillar-source", "cmdb"]
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["ext_pillar"] == [{"pigsalt": {"inventory": str(project / "pillar" / "inventory"), "source": "cmdb"}}]
    wrong = CliRunner().invoke(main, ["master", "setup", "--print", "--project", str(project), "--pillar-source", "x"])
    assert wrong.exit_code == 2 and "'x' is not one of 'files', 'cmdb'" in wrong.output


def test_the_master_id_is_pinned_to_the_short_host_name(project: Path, tmp_path: Path) -> None:
    with mock.patch("socket.gethostname", return_value="meta.example.org"):
        assert master_config(settings_for(project, tmp_path))["id"] == "meta_master"


def test_reactors_from_the_project(project: Path, tmp_path: Path) -> None:
    reactor = project / "salt" / "reactor"
    reactor.mkdir()
    (reactor / "failover.sls").write_text("# reactor-tag: pigsalt/patroni/failover\nx: {}\n")
    (reactor / "node_up.sls").write_text("y: {}\n")
    assert find_reactors(project / "salt") == [
        Reactor("pigsalt/patroni/failover", "salt://reactor/failover.sls"),
        Reactor("pigsalt/node_up", "salt://reactor/node_up.sls"),
    ]
    config = master_config(settings_for(project, tmp_path, worker_threads=2))
    assert config["reactor"] == [
        {"pigsalt/patroni/failover": ["salt://reactor/failover.sls"]},
        {"pigsalt/node_up": ["salt://reactor/node_up.sls"]},
    ]
    assert config["worker_threads"] == 2


def test_rendered_config_is_yaml_with_a_header(project: Path, tmp_path: Path) -> None:
    settings = settings_for(project, tmp_path)
    text = render_master_config(settings)
    assert text.startswith("# Written by `pigsalt master setup`")
    assert yaml.safe_load(text) == master_config(settings)


def test_setup_writes_config_and_links_then_changes_nothing(project: Path, tmp_path: Path) -> None:
    settings = settings_for(project, tmp_path)
    first = setup(settings)
    assert first.changed
    assert yaml.safe_load(settings.config_file.read_text()) == master_config(settings)
    links = {p.name: p.readlink() for p in settings.extensions_dir.iterdir()}
    assert links == {"_modules": project / "_modules", "_states": project / "_states"}
    assert not setup(settings).changed


def test_setup_links_optional_extension_dirs_and_drops_stale_ones(project: Path, tmp_path: Path) -> None:
    settings = settings_for(project, tmp_path)
    (project / "_utils").mkdir()
    setup(settings)
    assert (settings.extensions_dir / "_utils").readlink() == project / "_utils"
    (project / "_utils").rmdir()
    assert setup(settings).changed
    assert sorted(p.name for p in settings.extensions_dir.iterdir()) == ["_modules", "_states"]


def test_setup_refuses_an_incomplete_project(tmp_path: Path) -> None:
    (tmp_path / "p" / "salt").mkdir(parents=True)
    with pytest.raises(PigsaltError) as err:
        setup(settings_for(tmp_path / "p", tmp_path))
    assert err.value.message == (
        f"{tmp_path / 'p'} is not a pigsalt project: missing "
        f"{tmp_path / 'p' / 'pillar'}, {tmp_path / 'p' / '_modules'}, {tmp_path / 'p' / '_states'}"
    )


def test_setup_refuses_to_replace_a_real_directory(project: Path, tmp_path: Path) -> None:
    settings = settings_for(project, tmp_path)
    (settings.extensions_dir / "_modules").mkdir(parents=True)
    with pytest.raises(PigsaltError, match="exists and is not a symlink"):
        setup(settings)


def test_minion_config() -> None:
    text = render_minion_config(MinionSettings(master="10.10.10.10", minion_id="node-1", acceptance_wait_time=1))
    assert text.startswith("# Written by `pigsalt master minion-config`")
    assert yaml.safe_load(text) == {"master": "10.10.10.10", "id": "node-1", "acceptance_wait_time": 1}
    assert yaml.safe_load(render_minion_config(MinionSettings("m", "n", master_finger="aa:bb"))) == {
        "master": "m",
        "id": "n",
        "master_finger": "aa:bb",
    }


def test_minion_config_rejects_a_bad_id() -> None:
    with pytest.raises(PigsaltError, match="minion id 'a b'"):
        render_minion_config(MinionSettings("10.10.10.10", "a b"))


def test_cli_setup_print_writes_nothing(project: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["master", "setup", "--print", "--project", str(project), "--config-dir", str(tmp_path / "etc")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"# {tmp_path / 'etc' / 'master.d' / 'pigsalt.conf'}\n# Written by")
    assert f"inventory: {project / 'pillar' / 'inventory'}" in result.output
    assert not (tmp_path / "etc").exists()


def test_cli_setup_writes_and_says_so(project: Path, tmp_path: Path) -> None:
    args = [
        "master",
        "setup",
        "--project",
        str(project),
        "--config-dir",
        str(tmp_path / "etc"),
        "--extensions-dir",
        str(tmp_path / "ext"),
    ]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert (
        first.output == f"wrote {tmp_path / 'etc/master.d/pigsalt.conf'} and {tmp_path / 'ext'}; restart salt-master\n"
    )
    again = CliRunner().invoke(main, args)
    assert again.output == f"{tmp_path / 'etc/master.d/pigsalt.conf'}: already in the desired state\n"


def test_cli_setup_error_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["master", "setup", "--project", str(tmp_path), "--print"])
    assert result.exit_code == 0  # --print does not check the project
    result = CliRunner().invoke(
        main, ["master", "setup", "--project", str(tmp_path), "--config-dir", str(tmp_path / "etc")]
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path} is not a pigsalt project: missing ")


def test_cli_minion_config(tmp_path: Path) -> None:
    args = ["master", "minion-config", "--master", "10.10.10.10", "--id", "node-1", "--config-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((tmp_path / "minion.d" / "pigsalt.conf").read_text()) == {
        "master": "10.10.10.10",
        "id": "node-1",
    }


# --- accepting minion keys by fingerprint ---------------------------------------------------

KEY = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest\nIDAQAB\n-----END PUBLIC KEY-----\n"


def _pki(tmp_path: Path) -> Path:
    pki = tmp_path / "pki"
    (pki / "minions_pre").mkdir(parents=True)
    (pki / "minions").mkdir()
    (pki / "minions_pre" / "node-1").write_text(KEY)
    return pki


def test_accept_moves_the_key_only_when_the_fingerprint_matches(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    (pki / "minions_pre" / "node-1").chmod(0o600)
    finger = master_lib.pem_finger(KEY)
    result = master_lib.accept_minion("node-1", finger, pki)
    assert result == master_lib.AcceptResult("node-1", finger, already=False)
    assert (pki / "minions" / "node-1").read_text() == KEY
    assert (pki / "minions" / "node-1").stat().st_mode & 0o777 == 0o600
    assert not (pki / "minions_pre" / "node-1").exists()
    assert sorted(p.name for p in (pki / "minions").iterdir()) == ["node-1"]
    again = master_lib.accept_minion("node-1", finger, pki)
    assert again.already


def test_accept_never_leaves_the_key_in_neither_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The master stores a key it finds nowhere as pending, which deletes an accepted one: the
    pending file may go only once the accepted one is in place."""
    pki = _pki(tmp_path)
    seen: list[bool] = []
    unlink = Path.unlink

    def watching_unlink(self: Path, missing_ok: bool = False) -> None:
        if self == pki / "minions_pre" / "node-1":
            seen.append((pki / "minions" / "node-1").is_file())
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", watching_unlink)
    master_lib.accept_minion("node-1", master_lib.pem_finger(KEY), pki)
    assert seen == [True]


def test_accept_replaces_an_older_accepted_key_with_the_verified_pending_one(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    (pki / "minions" / "node-1").write_text(KEY.replace("test", "older"))
    master_lib.accept_minion("node-1", master_lib.pem_finger(KEY), pki)
    assert (pki / "minions" / "node-1").read_text() == KEY


def test_accept_refuses_a_different_key_and_changes_nothing(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    wrong = ":".join(["ab"] * 32)
    with pytest.raises(
        PigsaltError, match=r"node-1: refusing the pending key: it has fingerprint .* the node has ab:ab"
    ):
        master_lib.accept_minion("node-1", wrong, pki)
    assert (pki / "minions_pre" / "node-1").is_file()
    assert not (pki / "minions" / "node-1").exists()


def test_accept_without_a_pending_key_or_with_a_malformed_finger(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    with pytest.raises(PigsaltError, match="node-9: no pending key"):
        master_lib.accept_minion("node-9", master_lib.pem_finger(KEY), pki)
    with pytest.raises(PigsaltError, match="expected the aa:bb"):
        master_lib.accept_minion("node-1", "not-a-finger", pki)
