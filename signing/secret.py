"""A shared secret (HMAC key, paas token, app secret, request secret) that never shows itself.

Why a type: secrets travel through settings objects, dataclasses and exception contexts; a plain ``str`` ends up
in a ``repr`` or a log line sooner or later. ``Secret`` redacts ``repr``/``str``, compares in constant time and
only yields its value through the explicit :meth:`Secret.reveal` / :meth:`Secret.reveal_str`.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from signing.errors import KeyInvalid

__all__ = ["Secret", "secret_from_env", "secret_from_file"]

_REDACTED = "Secret('**********')"


class Secret:
    """Bytes that must not leak: redacted repr/str, constant-time equality, not hashable by value."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes | bytearray):
            raise TypeError("Secret takes bytes or str")
        if not value:
            raise KeyInvalid("empty_secret", "a secret must not be empty")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The secret bytes; call at the point of use only (an HMAC, a concatenation to hash)."""
        return self._value

    def reveal_str(self) -> str:
        """The secret as UTF-8 text (the platforms' concatenation schemes work on text)."""
        return self._value.decode("utf-8")

    def __repr__(self) -> str:
        return _REDACTED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]  # equality by value must not invite use as a dict key

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret is not picklable")


def secret_from_file(path: str | Path) -> Secret:
    """Read a secret from a file (trailing newline stripped): how deployments mount credentials."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise KeyInvalid("secret_unreadable", f"cannot read secret file {p}") from exc
    return Secret(raw.rstrip(b"\r\n"))


def secret_from_env(name: str, environ: dict[str, str] | None = None) -> Secret:
    """Read a secret from an environment variable once, at start-up (never at request time)."""
    env = os.environ if environ is None else environ
    value = env.get(name)
    if not value:
        raise KeyInvalid("secret_missing", f"environment variable {name} is not set")
    return Secret(value)
