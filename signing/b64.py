"""Strict Base64 / Base64url codecs: refuse anything that is not exactly the canonical form.

Why strict: lenient decoders (``base64.b64decode`` without ``validate``) skip junk characters, which lets two
different header strings decode to the same bytes. A verifier must read exactly one spelling.
"""

from __future__ import annotations

import base64
import binascii
import re

from signing.errors import SignatureInvalid

__all__ = ["b64decode_strict", "b64encode", "b64url_decode", "b64url_encode"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str = "base64url") -> bytes:
    """Decode unpadded Base64url; :class:`SignatureInvalid` on padding, foreign characters or bad length."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise SignatureInvalid("bad_base64", f"{what} is not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(raw) != text:  # non-canonical trailing bits
        raise SignatureInvalid("bad_base64", f"{what} is not canonical base64url")
    return raw


def b64encode(data: bytes) -> str:
    """Standard Base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str | bytes, what: str = "base64") -> bytes:
    """Decode standard padded Base64, refusing whitespace, foreign characters and non-canonical forms."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("bad_base64", f"{what} is not valid base64") from exc
    canonical = base64.b64encode(raw)
    given = text.encode("ascii") if isinstance(text, str) else text
    if canonical != given:
        raise SignatureInvalid("bad_base64", f"{what} is not canonical base64")
    return raw
