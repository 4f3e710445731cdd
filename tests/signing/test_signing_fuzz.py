"""Property tests: hostile header text never escapes the signing error tree (no IndexError, KeyError, ...)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing.b64 import b64decode_strict, b64url_decode, b64url_encode
from signing.devpki import generate_ed25519, generate_p256
from signing.errors import SigningError
from signing.httpsig import HttpMessage, verify_content_digest, verify_message
from signing.jws import sign_detached, verify_detached
from signing.jwt import verify_jwt
from signing.keys import SigningKey
from signing.sfv import parse_dictionary

ES = SigningKey.of("k", generate_p256())
ED = SigningKey.of("k", generate_ed25519())
SF_TEXT = st.text(st.sampled_from(list('sig1=():;," \\-_abcdefghijklmnopqrstuvwxyz0123456789@+/*.%\t')), max_size=120)
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@FAST
@given(st.text(max_size=80))
def test_b64_decoders_only_raise_signing_errors(text: str) -> None:
    for fn in (b64url_decode, b64decode_strict):
        with contextlib.suppress(SigningError):
            fn(text)


@FAST
@given(st.one_of(st.text(max_size=200), st.text(st.sampled_from(list("eyJ0.._-AbC=")), max_size=200)))
def test_jws_verify_only_raises_signing_errors(value: str) -> None:
    with pytest.raises(SigningError):
        verify_detached(value, b"body", {"k": ES.verification_key()}, {"ES256"})


@FAST
@given(st.integers(0, 200), st.integers(1, 255))
def test_jws_any_bit_flip_in_body_fails(position: int, flip: int) -> None:
    body = b'{"a":1,"b":"two"}'
    value = sign_detached(body, ES)
    mutated = bytearray(body)
    mutated[position % len(body)] ^= flip
    with pytest.raises(SigningError):
        verify_detached(value, bytes(mutated), {"k": ES.verification_key()}, {"ES256"})


@FAST
@given(st.text(max_size=300))
def test_jwt_verify_only_raises_signing_errors(token: str) -> None:
    with pytest.raises(SigningError):
        verify_jwt(token, {"k": ES.verification_key()}, {"ES256"}, now=0, audience="a")


@FAST
@given(SF_TEXT)
def test_sfv_parser_only_raises_signing_errors(text: str) -> None:
    with contextlib.suppress(SigningError):
        parse_dictionary(text)


@FAST
@given(SF_TEXT, SF_TEXT, st.one_of(st.none(), SF_TEXT))
def test_httpsig_verify_only_raises_signing_errors(sig_input: str, sig: str, digest: str | None) -> None:
    headers = {"Signature-Input": sig_input, "Signature": sig}
    if digest is not None:
        headers["Content-Digest"] = digest
    message = HttpMessage(headers, "POST", "https://x/y")
    with pytest.raises(SigningError):
        verify_message(message, ("@method",), {"k": ED.verification_key()}, body=b"{}")
    with contextlib.suppress(SigningError):
        verify_content_digest(digest, b"{}")
