"""``pigsalt.agent.wheels``: the signed list, the hashes pip gets, and a tampered wheelhouse refused.

The signature is real (the repository's ``SigningKey``, ``gpgv`` as a node runs it); pip is a
stand-in that records what it was asked, as the real install runs on the nodes (e2e tier).
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pigsalt.agent import AgentError
from pigsalt.agent import wheels as agent
from pigsalt.repo.build import wheel_sums
from pigsalt.repo.signing import SigningKey

GPG = shutil.which("gpg") is not None and shutil.which("gpgv") is not None
needs_gpg = pytest.mark.skipif(not GPG, reason="gpg and gpgv are not installed (make deps)")

WHEELS = {"patroni-4.1.5-py3-none-any.whl": b"patroni", "psycopg-3.2.9-py3-none-any.whl": b"psycopg"}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A wheelhouse with a signed SHA256SUMS, and the keyring that verifies it."""
    if not GPG:
        pytest.skip("gpg and gpgv are not installed (make deps)")
    root = tmp_path_factory.mktemp("wheelhouse")
    pypi = root / "pypi"
    pypi.mkdir()
    for name, data in WHEELS.items():
        (pypi / name).write_bytes(data)
    (pypi / agent.SUMS).write_text(wheel_sums(pypi))
    key = SigningKey(root / "key")
    fingerprint = key.ensure()
    key.sign_detached(pypi / agent.SUMS, fingerprint)
    keyring = root / "keyring.gpg"
    key.export_keyring(fingerprint, keyring)
    yield pypi, keyring
    key.stop_agent()


@pytest.fixture
def served(signed: tuple[Path, Path]) -> Iterator[str]:
    pypi, _ = signed

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(pypi), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def sha(name: str, signed: tuple[Path, Path]) -> str:
    return agent.parse_sums((signed[0] / agent.SUMS).read_text())[name]


def test_parse_sums_reads_sha256sums_and_names_a_bad_line() -> None:
    digest = "a" * 64
    assert agent.parse_sums(f"{digest}  x-1-py3-none-any.whl\n\n{digest} *y-2-py3-none-any.whl\n") == {
        "x-1-py3-none-any.whl": digest,
        "y-2-py3-none-any.whl": digest,
    }
    with pytest.raises(AgentError, match=r"^SHA256SUMS line 2: expected '<sha256>  <file>.whl', got '../evil'$"):
        agent.parse_sums(f"{digest}  x-1-py3-none-any.whl\n../evil\n")
    with pytest.raises(AgentError, match=r"^SHA256SUMS lists no wheel$"):
        agent.parse_sums("\n")


def report(*urls: str) -> dict[str, object]:
    items = []
    for url in urls:
        name, version = Path(url).name.split("-")[:2]
        items.append({"metadata": {"name": name, "version": version}, "download_info": {"url": url}})
    return {"install": items}


def test_hashed_requirements_take_each_hash_from_the_signed_list() -> None:
    sums = {"patroni-4.1.5-py3-none-any.whl": "1" * 64, "psycopg-3.2.9-py3-none-any.whl": "2" * 64}
    found = agent.hashed_requirements(
        report("http://r/pypi/psycopg-3.2.9-py3-none-any.whl", "http://r/pypi/patroni-4.1.5-py3-none-any.whl"), sums
    )
    assert found == [f"patroni==4.1.5 --hash=sha256:{'1' * 64}", f"psycopg==3.2.9 --hash=sha256:{'2' * 64}"]
    with pytest.raises(AgentError, match=r"^'evil-1.0-py3-none-any.whl': not in the repository's signed SHA256SUMS"):
        agent.hashed_requirements(report("http://r/pypi/evil-1.0-py3-none-any.whl"), sums)


@needs_gpg
def test_the_signature_verifies_and_a_changed_list_does_not(signed: tuple[Path, Path], tmp_path: Path) -> None:
    pypi, keyring = signed
    agent.verify_sums(pypi / agent.SUMS, pypi / (agent.SUMS + ".gpg"), keyring)
    forged = tmp_path / agent.SUMS
    forged.write_text((pypi / agent.SUMS).read_text().replace("patroni", "patroNi"))
    with pytest.raises(AgentError, match=rf"^SHA256SUMS: the signature does not verify with {keyring}: "):
        agent.verify_sums(forged, pypi / (agent.SUMS + ".gpg"), keyring)


class FakePip:
    """gpgv runs for real; pip's dry run answers with a report naming ``files``; the install is recorded."""

    def __init__(self, base: str, files: Sequence[str]) -> None:
        self.base = base
        self.files = files
        self.requirements = ""
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        if argv[0] == "gpgv":
            return subprocess.run(argv, capture_output=True, text=True, check=False)
        if "--dry-run" in argv:
            out = Path(argv[argv.index("--report") + 1])
            out.write_text(json.dumps(report(*(f"{self.base}/{name}" for name in self.files))))
        else:
            self.requirements = Path(argv[argv.index("--requirement") + 1]).read_text()
        return subprocess.CompletedProcess(argv, 0, "", "")


@needs_gpg
def test_install_pins_every_file_with_its_signed_hash(signed: tuple[Path, Path], served: str) -> None:
    pip = FakePip(served, sorted(WHEELS))
    lines = agent.install(served, signed[1], "/opt/venv/bin/python", ["patroni[etcd3]==4.1.5", "psycopg"], run=pip)
    assert lines == [
        f"patroni==4.1.5 --hash=sha256:{sha('patroni-4.1.5-py3-none-any.whl', signed)}",
        f"psycopg==3.2.9 --hash=sha256:{sha('psycopg-3.2.9-py3-none-any.whl', signed)}",
    ]
    assert pip.requirements == "\n".join(lines) + "\n"
    install = pip.calls[-1]
    assert install[install.index("--python") + 1] == "/opt/venv/bin/python"
    assert {"--require-hashes", "--no-deps"} <= set(install)
    assert install[install.index("--index-url") + 1] == f"{served}/simple"


@needs_gpg
def test_a_file_the_signed_list_does_not_hold_is_refused_before_installing(
    signed: tuple[Path, Path], served: str
) -> None:
    pip = FakePip(served, ["patroni-4.1.5-py3-none-any.whl", "backdoor-1.0-py3-none-any.whl"])
    with pytest.raises(AgentError, match=r"^'backdoor-1\.0-py3-none-any\.whl': not in the repository's signed"):
        agent.install(served, signed[1], "/opt/venv/bin/python", ["patroni"], run=pip)
    assert not any("--require-hashes" in call for call in pip.calls)


@needs_gpg
def test_a_wheelhouse_signed_by_another_key_installs_nothing(
    signed: tuple[Path, Path], served: str, tmp_path: Path
) -> None:
    other = SigningKey(tmp_path / "other")
    fingerprint = other.ensure()
    other.export_keyring(fingerprint, tmp_path / "other.gpg")
    other.stop_agent()
    pip = FakePip(served, sorted(WHEELS))
    with pytest.raises(AgentError, match=r"^SHA256SUMS: the signature does not verify with "):
        agent.install(served, tmp_path / "other.gpg", "/opt/venv/bin/python", ["patroni"], run=pip)
    assert [call[0] for call in pip.calls] == ["gpgv"]


def test_a_repository_without_the_list_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match=r"^GET http://127.0.0.1:1/pypi/SHA256SUMS: "):
        agent.install("http://127.0.0.1:1/pypi", tmp_path / "k.gpg", "python", ["patroni"])


def test_main_prints_one_line_on_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["--repo", "http://127.0.0.1:1/pypi", "--keyring", str(tmp_path / "k.gpg"), "--python", "py", "patroni"]
    assert agent.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("pigsalt.agent.wheels: GET http://127.0.0.1:1/pypi/SHA256SUMS: ")
    assert err.count("\n") == 1
