"""SCRAM-SHA-256 verifiers: PostgreSQL's format, RFC 7677's exchange, PostgreSQL's own output."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from pigsalt.agent import scram

# RFC 7677 section 3: the SCRAM-SHA-256 exchange for user "user", password "pencil".
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC_CLIENT_PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
# Derived once with this module and checked against the RFC exchange below.
PENCIL = (
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)
# Stored by PostgreSQL 15.18 (CREATE ROLE … PASSWORD '<plaintext>', password_encryption scram-sha-256).
POSTGRES_STORED = {
    "pencil": "SCRAM-SHA-256$4096:LzrkqgyzOmFYjo1Sf/KqDw==$r7T1+EBoaVKEyoqsKevM9k+ynzlUjwi0zsiEEho3YQY="
    ":f0U0IPU1FOwdO2cJ0sP6U/VJQRlMXoG1YOygEltBaiU=",
    # SASLprep maps the soft hyphen to nothing.
    "I\u00adX": "SCRAM-SHA-256$4096:CiYRNa1CSB9z4WA3zat5Vw==$yCbVoBNUx7hxmaK6l00z2dtdfW59iQCYQDtLDS+2vJ8="
    ":Fhkn/y0s95MC3kXoYDnbdYEe71voaXBlIE1eO3nACD8=",
    # No-break space to space, NFKC (Roman numeral nine to "IX").
    "\u00a0caf\u00e9\u2168": "SCRAM-SHA-256$4096:DyLbXXas7Azkr4SJjlzY4g==$rubGmjJTdhe3fNlcm8dtwDq5kuuasuYTUZ+Y5cNyNlo="
    ":Fwa+yGU2dSwJ3t62od1h6cAsRpJPOHw6GMcY461ju9M=",
    # Fails the bidi check: PostgreSQL falls back to the raw bytes.
    "abc\u0627": "SCRAM-SHA-256$4096:AUF5pSW81LG/KGSLMvzOcQ==$QGR6Nb+Zg32qPLlLK9Kyk36EGiYzZlzvFElkARmKit4="
    ":uczoXew9uKLd5Ku5PwGPDALIivUtRco4al+vSa9u9pw=",
}


def independent(password: bytes, salt: bytes, iterations: int) -> str:
    """RFC 5802's formulas written out again with hashlib, for comparison."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def test_known_vector_matches_an_independent_computation_and_the_literal():
    assert scram.verifier("pencil", salt=RFC_SALT, iterations=4096) == independent(b"pencil", RFC_SALT, 4096)
    assert scram.verifier("pencil", salt=RFC_SALT) == PENCIL


def test_known_vector_authenticates_rfc_7677_exchange():
    """A server holding PENCIL accepts RFC 7677's client proof and sends RFC 7677's signature."""
    parsed = scram.parse(PENCIL)
    assert parsed is not None
    iterations, salt, stored_key, server_key = parsed
    assert (iterations, salt) == (4096, RFC_SALT)
    client_signature = hmac.digest(stored_key, RFC_AUTH_MESSAGE, "sha256")
    client_key = bytes(a ^ b for a, b in zip(RFC_CLIENT_PROOF, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key
    assert hmac.digest(server_key, RFC_AUTH_MESSAGE, "sha256") == RFC_SERVER_SIGNATURE


@pytest.mark.parametrize("password", sorted(POSTGRES_STORED))
def test_matches_what_postgres_stored(password: str):
    stored = POSTGRES_STORED[password]
    assert scram.matches(password, stored)
    assert not scram.matches(password + "x", stored)
    parsed = scram.parse(stored)
    assert parsed is not None
    assert scram.verifier(password, salt=parsed[1], iterations=parsed[0]) == stored


def test_round_trip_with_a_random_salt():
    first, second = scram.verifier("s3cret"), scram.verifier("s3cret")
    assert first != second  # 16 fresh random bytes each time
    for stored in (first, second):
        parsed = scram.parse(stored)
        assert parsed is not None and parsed[0] == 4096 and len(parsed[1]) == 16
        assert scram.matches("s3cret", stored)
        assert not scram.matches("s3cret ", stored)
    assert scram.matches("x", scram.verifier("x", iterations=10))


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("pencil", b"pencil"),
        ("\x07bell", b"\x07bell"),  # ASCII: PostgreSQL uses it as it is, control characters too
        ("I\u00adX", b"IX"),  # RFC 4013 examples
        ("\u00aa", b"a"),
        ("\u2168", b"IX"),
        ("a\u3000b", b"a b"),
        ("\u0627\u0031", "\u0627\u0031".encode()),  # RandALCat not at both ends: raw bytes
        ("x\u0000\u00e9", "x\u0000\u00e9".encode()),  # prohibited (control): raw bytes
        ("\u00ad", "\u00ad".encode()),  # maps to nothing: empty is prohibited, raw bytes
    ],
)
def test_saslprep(password: str, prepared: bytes):
    assert scram.saslprep(password) == prepared


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "pencil",
        "md5" + "0" * 32,
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
        "SCRAM-SHA-256$x:W22ZaJ0SNY7soEsUEjb6gQ==$a:b",
        "SCRAM-SHA-256$4096:!!!$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$YQ==:YQ==",
    ],
)
def test_anything_but_a_scram_verifier_does_not_parse_nor_match(stored: str | None):
    assert scram.parse(stored) is None
    assert scram.matches("pencil", stored) is False


def test_iterations_must_be_positive():
    with pytest.raises(ValueError, match="iterations must be positive"):
        scram.verifier("x", iterations=0)
