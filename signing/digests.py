"""Tiny digest helpers used by concatenation-style signing schemes (hex SHA-256, lower-case MD5 hex).

MD5 is only here because a partner's authentication scheme mandates it; never use it for anything new.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from signing.errors import SignatureInvalid

__all__ = ["constant_time_equal_hex", "md5_hex", "sha256_b64", "sha256_hex"]


def sha256_hex(text: str | bytes) -> str:
    """Lower-case hex SHA-256 of text (UTF-8) or bytes."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def sha256_b64(data: bytes) -> str:
    """Standard Base64 of the SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def md5_hex(text: str | bytes) -> str:
    """Lower-case hex MD5 of text (UTF-8) or bytes (a mandated legacy scheme only)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def constant_time_equal_hex(expected_hex: str, given: str) -> None:
    """Compare a computed hex digest with a received one in constant time; :class:`SignatureInvalid` if not."""
    if not isinstance(given, str) or len(given) != len(expected_hex):
        raise SignatureInvalid("malformed_signature", "digest value has the wrong form")
    if not hmac.compare_digest(expected_hex, given.lower()):
        raise SignatureInvalid("bad_signature", "digest value does not match")
