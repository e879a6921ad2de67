"""The repository key: made once, kept, used to sign Release; no gpg-agent left behind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pigsalt.errors import PigsaltError
from pigsalt.repo.signing import SigningKey, verify_release

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed (make deps)")


def agents_for(home: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if "gpg-agent" in line and str(home) in line]


def test_key_is_made_once_and_signs_a_release(tmp_path: Path) -> None:
    home = tmp_path / "key"
    key = SigningKey(home)
    assert key.fingerprint() is None
    messages: list[str] = []
    fingerprint = key.ensure(messages.append)
    assert len(fingerprint) == 40
    assert messages == [f"gpg: generating the repository signing key in {home}"]
    assert home.stat().st_mode & 0o777 == 0o700
    assert key.ensure(messages.append) == fingerprint
    assert len(messages) == 1

    apt = tmp_path / "apt"
    apt.mkdir()
    (apt / "Release").write_text("Origin: pigsalt\n")
    key.sign_release(apt, fingerprint)
    key.export_keyring(fingerprint, apt / "keyring.gpg")
    assert (apt / "InRelease").read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n")
    assert (apt / "Release.gpg").read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    assert (apt / "keyring.gpg").read_bytes()[:1] != b"-"  # binary, as signed-by wants
    verify_release(apt, apt / "keyring.gpg")
    assert agents_for(home) == []

    (apt / "Release").write_text("Origin: tampered\n")
    with pytest.raises(PigsaltError, match=r"^gpgv \(Release.gpg\) failed \(exit 1\): gpgv: BAD signature"):
        verify_release(apt, apt / "keyring.gpg")
