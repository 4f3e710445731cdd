"""The shapes of personal data (README §7) and how each kind is masked; pure string functions, no scanning.

:mod:`.masking` finds where personal data sits in a text or a mapping; this module says what an ID number, a phone
or an e-mail looks like and what is left of each once masked. Mask shapes keep enough to tell two values apart in
an incident and never enough to re-identify (docs/operations.md, "What is masked").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .personal_fields import FieldKind

__all__ = [
    "BEARER",
    "EMAIL",
    "HEX",
    "ID18",
    "JWT",
    "LANDLINE",
    "LICENCE_ID",
    "MOBILE",
    "NUMBERS",
    "REDACTED",
    "mask_by_kind",
    "mask_email",
    "mask_id",
    "mask_name",
    "mask_phone",
]

_NA = r"(?![0-9A-Za-z])"
# Only digits bound an ID or phone number: "ID340121…", "Tel139…" and "…686号" count (a letter is no excuse to
# leak). Hashes and trace ids (16, 32, 40 or 64 hex characters with a letter) are protected instead: see HEX.
ID18 = re.compile(r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?!\d)")
MOBILE = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# A landline needs a separator or a +86 prefix: a bare 0-led digit run is as likely an item code (000131009000).
LANDLINE = re.compile(
    r"(?<![\d+])(?:(?:\+86[ -]?)(?:\(0?\d{2,3}\)|0?\d{2,3})[ -]?|(?:\(0\d{2,3}\) ?|0\d{2,3}[ -]))"
    r"\d{7,8}(?:-\d{1,6})?(?!\d)"
)
EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}" + _NA)
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
HEX = re.compile(
    r"(?<![0-9A-Za-z])(?=[0-9]*[a-fA-F])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32}|[0-9a-fA-F]{16})"
    r"(?![0-9A-Za-z])"
)
NUMBERS = re.compile(r"\d[\d ()+-]{5,}\d")  # the least any ID or phone shape needs: 7 digits and separators
LICENCE_ID = re.compile(r"\b1\.2\.156\.3005\.2\.[0-9A-Za-z]+(?:\.[0-9A-Za-z]+){4}\b")

REDACTED = "[redacted]"


def mask_id(value: str) -> str:
    n = len(value)
    if n >= 15:
        return value[:4] + "*" * (n - 6) + value[-2:]
    if n >= 8:
        return value[:1] + "*" * (n - 3) + value[-2:]
    return "*" * n


def mask_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    keep_head = 3 if digits >= 9 else 0
    keep_tail = 2 if digits >= 7 else 0
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_head or seen > digits - keep_tail else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_name(value: str) -> str:
    return value[:1] + "**" if len(value) > 1 else "*" * len(value)


def mask_address(value: str) -> str:
    return value[: min(3, len(value) // 3)] + "***"


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return local[:1] + "***@" + domain


_MASKERS: Mapping[FieldKind, Callable[[str], str]] = {
    FieldKind.ID: mask_id,
    FieldKind.PHONE: mask_phone,
    FieldKind.NAME: mask_name,
    FieldKind.ADDRESS: mask_address,
    FieldKind.CREDENTIAL: lambda _v: REDACTED,
    FieldKind.OTHER: lambda v: "***" if v else "",
}


def mask_by_kind(value: str, kind: FieldKind) -> str:
    """Mask a value known to be personal data of ``kind`` (the whole value, keeping a hint of its shape)."""
    return _MASKERS[kind](value)
