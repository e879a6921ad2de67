"""SCRAM-SHA-256 password verifiers, computed the way PostgreSQL computes them.

Computing the verifier here lets a role's password travel to the server already hashed
(``ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'``), so the plaintext never reaches psql, the server
or its log, and lets a state compare a wanted password with ``pg_authid.rolpassword`` without
changing it.

The format is PostgreSQL's (``src/common/scram-common.c``, RFC 5802 and 7677)::

    SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>

Passwords are prepared with SASLprep (RFC 4013) exactly as ``pg_saslprep`` does: a pure ASCII
password is used as it is (PostgreSQL skips SASLprep for ASCII, control characters included); a
non-ASCII one is mapped, NFKC-normalized and checked, and when the check fails PostgreSQL, and
so this module, falls back to the raw UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stringprep
import unicodedata

__all__ = ["DEFAULT_ITERATIONS", "PREFIX", "matches", "parse", "saslprep", "verifier"]

PREFIX = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096  # PostgreSQL's own (scram_iterations, configurable only from 16 on)
SALT_LENGTH = 16  # bytes, as PostgreSQL's SCRAM_DEFAULT_SALT_LEN
_KEY_LENGTH = 32  # SHA-256 digest size


def _prohibited(char: str) -> bool:
    """RFC 4013 section 2.3 prohibited output, plus unassigned code points (RFC 3454 A.1)."""
    return (
        stringprep.in_table_a1(char)
        or stringprep.in_table_c12(char)
        or stringprep.in_table_c21_c22(char)
        or stringprep.in_table_c3(char)
        or stringprep.in_table_c4(char)
        or stringprep.in_table_c5(char)
        or stringprep.in_table_c6(char)
        or stringprep.in_table_c7(char)
        or stringprep.in_table_c8(char)
        or stringprep.in_table_c9(char)
    )


def saslprep(password: str) -> bytes:
    """The bytes PostgreSQL feeds to PBKDF2 for ``password`` (``pg_saslprep``, then its fallback).

    Mirrors PostgreSQL's order, which checks prohibited and bidirectional characters on the
    mapped string before normalization, and keeps the raw bytes when any check fails.
    """
    raw = password.encode("utf-8")
    if password.isascii():
        return raw
    mapped = [" " if stringprep.in_table_c12(char) else char for char in password if not stringprep.in_table_b1(char)]
    if not mapped or any(_prohibited(char) for char in mapped):
        return raw
    if any(stringprep.in_table_d1(char) for char in mapped) and (
        any(stringprep.in_table_d2(char) for char in mapped)
        or not stringprep.in_table_d1(mapped[0])
        or not stringprep.in_table_d1(mapped[-1])
    ):
        return raw
    return unicodedata.ucd_3_2_0.normalize("NFKC", "".join(mapped)).encode("utf-8")


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations, _KEY_LENGTH)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def verifier(password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL would store for ``password``.

    ``salt`` defaults to 16 random bytes, as PostgreSQL's; pass one only to reproduce a verifier.
    """
    if iterations < 1:
        raise ValueError(f"SCRAM iterations must be positive, not {iterations}")
    if salt is None:
        salt = os.urandom(SALT_LENGTH)
    stored_key, server_key = _keys(password, salt, iterations)
    return f"{PREFIX}${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def parse(stored: str | None) -> tuple[int, bytes, bytes, bytes] | None:
    """``(iterations, salt, stored_key, server_key)`` of a SCRAM verifier; None for anything else.

    Anything else is an md5 hash, a plaintext password, NULL, or a malformed verifier.
    """
    if not stored or not stored.startswith(f"{PREFIX}$"):
        return None
    try:
        _, head, keys = stored.split("$")
        iterations_text, salt_b64 = head.split(":")
        stored_b64, server_b64 = keys.split(":")
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_b64, validate=True)
        stored_key = base64.b64decode(stored_b64, validate=True)
        server_key = base64.b64decode(server_b64, validate=True)
    except (ValueError, binascii.Error):
        return None
    if iterations < 1 or not salt or len(stored_key) != _KEY_LENGTH or len(server_key) != _KEY_LENGTH:
        return None
    return iterations, salt, stored_key, server_key


def matches(password: str, stored: str | None) -> bool:
    """Whether ``stored`` (``pg_authid.rolpassword``) is a SCRAM verifier of ``password``.

    False for md5 hashes, plaintext and NULL: a state then sets the password again, as SCRAM.
    """
    parsed = parse(stored)
    if parsed is None:
        return False
    iterations, salt, stored_key, server_key = parsed
    want_stored, want_server = _keys(password, salt, iterations)
    return hmac.compare_digest(want_stored, stored_key) and hmac.compare_digest(want_server, server_key)
