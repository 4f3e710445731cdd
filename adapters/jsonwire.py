"""Strict JSON for the JSON dialects (README §8): bytes in, a tree of dicts and lists out, and back.

Refused as ``MALFORMED``: a byte order mark, a duplicate key in any object, a lone surrogate escape, ``NaN`` or
``Infinity``, anything outside RFC 8259, or a top level that is not an object. Bytes that are not UTF-8 are
``ENCODING_MISMATCH``. No I/O.

An integer of more digits than any field can hold is read as a stand-in of the same sign that is outside every
field's range, so it is refused ``BAD_FORMAT`` where its field is checked (README §2 "Integers": a number outside
a field's range), not ``MALFORMED``; and Python's ``int()`` (limited to 4300 digits, quadratic in time) never sees
it (issue 11 item 9).
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

__all__ = ["dump_json", "parse_json"]

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]").search
_SURROGATE = re.compile("[\ud800-\udfff]").search


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise Refusal(C.MALFORMED, None, "duplicate key in a JSON object")
    return obj


#: more digits than any integer field (0-999 999 999) or epoch-millisecond time (13 digits) could be valid with
_MAX_INT_DIGITS = 64
#: the stand-in for such an integer: outside every field's range, and not a whole number of seconds in milliseconds
_HUGE: int = 10**_MAX_INT_DIGITS + 1


def _int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        return -_HUGE if text[0] == "-" else _HUGE
    return int(text)


def _constant(name: str) -> Any:
    raise Refusal(C.MALFORMED, None, f"{name} is not JSON")


def _has_lone_surrogate(node: Any) -> bool:
    if type(node) is str:
        return _SURROGATE(node) is not None
    if type(node) is dict:
        return any(_SURROGATE(k) or _has_lone_surrogate(v) for k, v in node.items())
    if type(node) is list:
        return any(_has_lone_surrogate(v) for v in node)
    return False


def parse_json(body: bytes) -> dict[str, Any]:
    """Parse one JSON object; ``Refusal`` with ``ENCODING_MISMATCH`` or ``MALFORMED`` otherwise."""
    if body[:3] == b"\xef\xbb\xbf":
        raise Refusal(C.MALFORMED, None, "a byte order mark is not allowed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(C.ENCODING_MISMATCH, None, "body is not valid UTF-8") from None
    try:
        tree = _DECODER.decode(text)
    except (ValueError, RecursionError):
        raise Refusal(C.MALFORMED, None, "body is not well-formed JSON") from None
    # Python's json joins escaped surrogate pairs and lets a lone half through: that is MALFORMED here. (The
    # substring test first: most bodies have no escape at all, and it costs a seventh of the search.)
    if "\\u" in text and _SURROGATE_ESCAPE(text) and _has_lone_surrogate(tree):
        raise Refusal(C.MALFORMED, None, "lone surrogate escape")
    if type(tree) is not dict:
        raise Refusal(C.MALFORMED, None, "a JSON object is required")
    return tree


def dump_json(tree: Any) -> bytes:
    """UTF-8 JSON, characters written as themselves (JSON senders write UTF-8, README §8)."""
    return _ENCODER.encode(tree).encode("utf-8")


# Made once: json.loads/dumps with options build a new decoder or encoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
