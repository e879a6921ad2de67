"""The ``pigsalt_node`` states with a mocked ``__salt__``: whole return dicts."""

from __future__ import annotations

import importlib.util
from typing import Any
from unittest import mock

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pigsalt_node", ROOT / "_states" / "pigsalt_node.py")
assert spec is not None and spec.loader is not None
states = importlib.util.module_from_spec(spec)
spec.loader.exec_module(states)


def wire(test: bool, effect: Any) -> mock.Mock:
    run = mock.Mock(side_effect=effect)
    states.__salt__ = {"cmd.run_all": run}  # type: ignore[attr-defined]
    states.__opts__ = {"test": test}  # type: ignore[attr-defined]
    return run


def done(retcode: int = 0, stderr: str = "") -> dict[str, Any]:
    return {"retcode": retcode, "stdout": "", "stderr": stderr}


def test_the_right_host_name_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states.socket, "gethostname", lambda: "node-1")
    run = wire(False, AssertionError("nothing to run"))
    assert states.hostname("node-1") == {
        "name": "node-1", "changes": {}, "result": True, "comment": "the host name is node-1",
    }  # fmt: skip
    run.assert_not_called()


def test_another_host_name_is_set_and_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    names = iter(["localhost", "node-1"])
    monkeypatch.setattr(states.socket, "gethostname", lambda: next(names))
    run = wire(False, lambda argv, **kw: done())
    assert states.hostname("node-1") == {
        "name": "node-1",
        "changes": {"hostname": {"old": "localhost", "new": "node-1"}},
        "result": True,
        "comment": "the host name was set to node-1",
    }
    assert run.call_args.args[0] == ["hostname", "node-1"]
    assert run.call_args.kwargs["python_shell"] is False


def test_a_host_name_in_test_mode_is_only_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states.socket, "gethostname", lambda: "localhost")
    wire(True, AssertionError("nothing to run"))
    ret = states.hostname("node-1")
    assert (ret["result"], ret["changes"]) == (None, {"hostname": {"old": "localhost", "new": "node-1"}})


def test_a_refused_host_name_fails_with_what_hostname_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states.socket, "gethostname", lambda: "localhost")
    wire(False, lambda argv, **kw: done(1, "hostname: you must be root to change the host name"))
    assert states.hostname("node-1") == {
        "name": "node-1",
        "changes": {},
        "result": False,
        "comment": "hostname node-1: hostname: you must be root to change the host name (the host name is localhost)",
    }


def test_a_loaded_table_changes_nothing() -> None:
    run = wire(False, lambda argv, **kw: done())
    assert states.nft_table_loaded("pigsalt", "/etc/pigsalt/firewall.nft") == {
        "name": "pigsalt", "changes": {}, "result": True, "comment": "table inet pigsalt is loaded",
    }  # fmt: skip
    assert [c.args[0] for c in run.call_args_list] == [["/usr/sbin/nft", "list", "table", "inet", "pigsalt"]]


def test_a_deleted_table_is_loaded_from_the_file_and_checked() -> None:
    answers = iter([done(1, "No such file or directory"), done(), done()])
    run = wire(False, lambda argv, **kw: next(answers))
    assert states.nft_table_loaded("pigsalt", "/etc/pigsalt/firewall.nft") == {
        "name": "pigsalt",
        "changes": {"table": {"old": None, "new": "inet pigsalt from /etc/pigsalt/firewall.nft"}},
        "result": True,
        "comment": "table inet pigsalt loaded from /etc/pigsalt/firewall.nft",
    }
    assert run.call_args_list[1].args[0] == ["/usr/sbin/nft", "--file", "/etc/pigsalt/firewall.nft"]


def test_a_file_nft_refuses_fails_with_its_message() -> None:
    answers = iter([done(1), done(1, "firewall.nft:3:1-2: Error: syntax error"), done(1)])
    wire(False, lambda argv, **kw: next(answers))
    ret = states.nft_table_loaded("pigsalt", "/etc/pigsalt/firewall.nft")
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"] == "nft --file /etc/pigsalt/firewall.nft: firewall.nft:3:1-2: Error: syntax error"


def test_a_missing_table_in_test_mode_is_only_reported() -> None:
    run = wire(True, lambda argv, **kw: done(1))
    ret = states.nft_table_loaded("pigsalt", "/etc/pigsalt/firewall.nft")
    assert ret["result"] is None and run.call_count == 1


def test_a_copy_is_fetched_again_only_when_the_source_changed(tmp_path) -> None:
    source = tmp_path / "InRelease"
    copy = tmp_path / "apt" / "pigsalt.InRelease"
    copy.parent.mkdir()
    source.write_bytes(b"Release 1\n")
    url = source.as_uri()
    wire(False, AssertionError("nothing to run"))
    first = states.copy_fetched(str(copy), url)
    assert first["result"] is True and first["changes"] == {"fetched": {"old": None, "new": url}}
    assert copy.read_bytes() == b"Release 1\n" and copy.stat().st_mode & 0o777 == 0o644
    assert states.copy_fetched(str(copy), url)["changes"] == {}
    # A rebuild signs a new Release: the next run sees it (file.managed with skip_verify never did).
    source.write_bytes(b"Release 2\n")
    wire(True, AssertionError("nothing to run"))
    would = states.copy_fetched(str(copy), url)
    assert would["result"] is None and copy.read_bytes() == b"Release 1\n"
    wire(False, AssertionError("nothing to run"))
    again = states.copy_fetched(str(copy), url)
    assert again["changes"] == {"fetched": {"old": "an older copy", "new": url}}
    assert copy.read_bytes() == b"Release 2\n"
    assert sorted(p.name for p in copy.parent.iterdir()) == ["pigsalt.InRelease"]  # no temporary left


def test_an_unreachable_source_fails_and_keeps_the_copy(tmp_path) -> None:
    copy = tmp_path / "pigsalt.InRelease"
    copy.write_bytes(b"kept\n")
    wire(False, AssertionError("nothing to run"))
    ret = states.copy_fetched(str(copy), (tmp_path / "missing").as_uri())
    assert ret["result"] is False and ret["changes"] == {} and "missing" in ret["comment"]
    assert copy.read_bytes() == b"kept\n"
