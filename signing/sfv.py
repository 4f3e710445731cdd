"""The small subset of RFC 8941 Structured Field Values that RFC 9421/9530 headers use.

Parsed: a Dictionary whose members are a Byte Sequence (``:b64:``) or an Inner List of Strings, each member
with Parameters whose values are Integers, Strings or Tokens. Anything outside that subset is refused with
:class:`signing.errors.SignatureInvalid`: a verifier reads one grammar, strictly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from signing.b64 import b64decode_strict
from signing.errors import SignatureInvalid

__all__ = ["Member", "parse_dictionary", "serialize_inner_list", "serialize_params", "serialize_string"]

_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_INT = re.compile(r"-?[0-9]{1,15}")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_MAX_FIELD = 8192

ParamValue = int | str


@dataclass(frozen=True)
class Member:
    """One dictionary member: either ``items`` (inner list of strings) or ``data`` (byte sequence)."""

    items: tuple[str, ...] | None
    data: bytes | None
    params: tuple[tuple[str, ParamValue], ...]


def _fail(detail: str) -> SignatureInvalid:
    return SignatureInvalid("malformed_header", detail)


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.i += 1

    def sp(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        m = pattern.match(self.s, self.i)
        if not m:
            raise _fail("unexpected characters in structured field")
        self.i = m.end()
        return m

    def string(self) -> str:
        if self.peek() != '"':
            raise _fail("string expected")
        self.i += 1
        out: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise _fail("unterminated string")
            self.i += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise _fail("bad escape in string")
                self.i += 1
                out.append(nxt)
            elif not (" " <= c <= "~"):
                raise _fail("non-printable character in string")
            else:
                out.append(c)

    def params(self) -> tuple[tuple[str, ParamValue], ...]:
        out: list[tuple[str, ParamValue]] = []
        while self.peek() == ";":
            self.i += 1
            self.sp()
            name = self.match(_KEY).group(0)
            if self.peek() != "=":
                raise _fail("boolean parameters are not accepted")
            self.i += 1
            value: ParamValue
            if self.peek() == '"':
                value = self.string()
            elif self.peek() == "-" or self.peek().isdigit():
                value = int(self.match(_INT).group(0))
            else:
                value = self.match(_TOKEN).group(0)
            if any(n == name for n, _ in out):
                raise _fail("duplicate parameter")
            out.append((name, value))
        return tuple(out)

    def member(self) -> Member:
        if self.peek() == "(":
            self.i += 1
            items: list[str] = []
            while True:
                self.sp()
                if self.peek() == ")":
                    self.i += 1
                    break
                items.append(self.string())
                if self.peek() not in (" ", ")"):
                    raise _fail("inner list items must be separated by spaces")
            return Member(tuple(items), None, self.params())
        if self.peek() == ":":
            m = self.match(_BYTES)
            return Member(None, b64decode_strict(m.group(1), "byte sequence"), self.params())
        raise _fail("only inner lists and byte sequences are accepted")


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a Structured Field Dictionary of the accepted subset; duplicate keys are refused."""
    if not isinstance(text, str) or len(text) > _MAX_FIELD:
        raise _fail("header missing or too long")
    r = _Reader(text.strip(" "))
    out: dict[str, Member] = {}
    while True:
        key = r.match(_KEY).group(0)
        if r.peek() != "=":
            raise _fail("dictionary member without value")
        r.i += 1
        if key in out:
            raise _fail("duplicate dictionary key")
        out[key] = r.member()
        r.ows()
        if not r.peek():
            return out
        if r.peek() != ",":
            raise _fail("dictionary members must be separated by commas")
        r.i += 1
        r.ows()
        if not r.peek():
            raise _fail("trailing comma")


def serialize_string(value: str) -> str:
    """An SF String: printable ASCII only, ``"`` and ``\\`` escaped."""
    if any(not (" " <= c <= "~") for c in value):
        raise _fail("string values must be printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: tuple[tuple[str, ParamValue], ...]) -> str:
    """``;name=value`` for each parameter, in the given order."""
    out: list[str] = []
    for name, value in params:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _fail("parameter values must be integers or strings")
        out.append(f";{name}={value}" if isinstance(value, int) else f";{name}={serialize_string(value)}")
    return "".join(out)


def serialize_inner_list(items: tuple[str, ...], params: tuple[tuple[str, ParamValue], ...]) -> str:
    """``("a" "b");p=1``."""
    return "(" + " ".join(serialize_string(i) for i in items) + ")" + serialize_params(params)
