"""The repository's signing key: generated once, kept outside the repository, used to sign Release.

The key lives in its own GnuPG home (``/var/lib/pigsalt/repo-key``, mode 0700) and has no
passphrase: it signs unattended builds. Only the public half is published, as a binary keyring
for apt's ``signed-by``. The gpg-agent a signing run starts is stopped before returning.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pigsalt.errors import PigsaltError
from pigsalt.fileio import write_bytes_atomic
from pigsalt.repo._util import Progress, run, run_bytes, say

DEFAULT_KEY_DIR = Path("/var/lib/pigsalt/repo-key")
KEY_UID = "pigsalt offline repository <repo@pigsty>"


class SigningKey:
    """The repository key in GnuPG home ``home``."""

    def __init__(self, home: Path = DEFAULT_KEY_DIR) -> None:
        self.home = home

    def _gpg(self, *args: str | os.PathLike[str], what: str = "gpg") -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("GNUPGHOME", "GPG_AGENT_INFO")}
        env["LC_ALL"] = "C"
        cmd: list[str | os.PathLike[str]] = ["gpg", "--homedir", self.home, "--batch", "--no-tty", *args]
        return run(cmd, env=env, what=what, timeout=120).stdout

    def fingerprint(self) -> str | None:
        """The fingerprint of the secret key in the home, or None when there is none."""
        if not self.home.is_dir():
            return None
        out = self._gpg("--with-colons", "--list-secret-keys", what="gpg (list keys)")
        in_secret = False
        for line in out.splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                in_secret = True
            elif fields[0] == "fpr" and in_secret:
                return fields[9]
        return None

    def ensure(self, progress: Progress | None = None) -> str:
        """Create the key on first use; return its fingerprint."""
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        fpr = self.fingerprint()
        if fpr:
            return fpr
        say(progress, f"gpg: generating the repository signing key in {self.home}")
        try:
            self._gpg(
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-generate-key",
                KEY_UID,
                "ed25519",
                "sign",
                "never",
                what="gpg (generate key)",
            )
        finally:
            self.stop_agent()
        fpr = self.fingerprint()
        if not fpr:
            raise PigsaltError(f"gpg generated no key in {self.home}")
        return fpr

    def sign_release(self, apt_dir: Path, fingerprint: str) -> None:
        """Write ``InRelease`` (clear-signed) and ``Release.gpg`` (detached) next to ``Release``."""
        release = apt_dir / "Release"
        try:
            self._sign(release, "--clearsign", apt_dir / "InRelease", fingerprint)
            self._sign(release, "--detach-sign", apt_dir / "Release.gpg", fingerprint)
        finally:
            self.stop_agent()

    def sign_detached(self, path: Path, fingerprint: str) -> Path:
        """Write ``<path>.gpg``, a detached signature of ``path`` (``gpgv SIG FILE`` checks it)."""
        signature = path.with_name(path.name + ".gpg")
        try:
            self._sign(path, "--detach-sign", signature, fingerprint)
        finally:
            self.stop_agent()
        return signature

    def _sign(self, path: Path, flag: str, dest: Path, fingerprint: str) -> None:
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.unlink(missing_ok=True)
        self._gpg(
            "--yes",
            "--local-user",
            fingerprint,
            "--digest-algo",
            "SHA512",
            "--armor",
            flag,
            "--output",
            tmp,
            path,
            what=f"gpg (sign {dest.name})",
        )
        tmp.chmod(0o644)
        tmp.replace(dest)

    def export_keyring(self, fingerprint: str, dest: Path) -> None:
        """The public key as a binary OpenPGP keyring, the form apt's ``signed-by`` reads."""
        cmd: list[str | os.PathLike[str]] = ["gpg", "--homedir", self.home, "--batch", "--export", fingerprint]
        data = run_bytes(cmd, what="gpg (export key)")
        if not data:
            raise PigsaltError(f"gpg exported nothing for key {fingerprint}")
        write_bytes_atomic(dest, data)

    def stop_agent(self) -> None:
        """Stop the gpg-agent that gpg started for this home (it would otherwise linger)."""
        if self.home.is_dir():
            with contextlib.suppress(PigsaltError):
                run(["gpgconf", "--homedir", self.home, "--kill", "gpg-agent"], what="gpgconf", timeout=30)


def verify_release(apt_dir: Path, keyring: Path) -> None:
    """Check both signatures of ``apt_dir`` against ``keyring``, as apt would (with gpgv)."""
    run(["gpgv", "--keyring", keyring, apt_dir / "InRelease"], what="gpgv (InRelease)", timeout=60)
    run(
        ["gpgv", "--keyring", keyring, apt_dir / "Release.gpg", apt_dir / "Release"],
        what="gpgv (Release.gpg)",
        timeout=60,
    )


def verify_detached(path: Path, keyring: Path) -> None:
    """Check ``<path>.gpg`` against ``keyring`` with gpgv, as a node does."""
    run(
        ["gpgv", "--keyring", keyring, path.with_name(path.name + ".gpg"), path], what=f"gpgv ({path.name})", timeout=60
    )
