"""Identifier shapes and check characters of README §7 (pure functions, no I/O).

Each ``check_*`` function returns ``None`` when the value is valid and otherwise the rejection code that the
platforms use, so the caller places it at the field path of its own dialect. The order of checks inside each
function is the order of §7: shape first (``BAD_FORMAT``), then the check character.
"""

from __future__ import annotations

import re
from datetime import date

from gateway.errors import RejectionCode

__all__ = [
    "LicenceIdParts",
    "check_id_number",
    "check_licence_id",
    "check_type_code",
    "check_uscc",
    "gb11643_check_char",
    "gb11714_check_char",
    "gb32100_check_char",
    "mod37_36",
    "parse_licence_id",
]

BAD = RejectionCode.BAD_FORMAT

# --- GB 11643-1999 resident ID (and the 2023 foreign permanent-residence card) ---------------------------------
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS17 = re.compile(r"[0-9]{17}")


def gb11643_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits (``ValueError`` for anything else).

    The weighted sum is taken in one C call: the weights are 2^(18-i) mod 11, so sum(d_i * w_i) is 2 * sum(d_i *
    13^(17-i)) mod 11 (13 ≡ 2 mod 11), and the second sum is ``int(first17, 13)``. A Python loop over the digits
    was a third of decoding a case with two ID numbers (issue 15 item 5); the tests compare with the weights.
    """
    if not _DIGITS17.fullmatch(first17):
        raise ValueError("a GB 11643 check character is computed over 17 digits")
    return _ID_CHECK[2 * int(first17, 13) % 11]


def _real_date(yyyymmdd: str) -> bool:
    """Eight ASCII digits (the shape is checked first) that name a day of the calendar; ``date.fromisoformat``
    reads them as ``date(int(yyyy), int(mm), int(dd))`` would (the tests compare both), in one C call."""
    try:
        date.fromisoformat(yyyymmdd)
    except ValueError:
        return False
    return True


def _check_gb11643(value: str, *, foreign_pr: bool) -> RejectionCode | None:
    if not _ID_SHAPE.fullmatch(value) or not _real_date(value[6:14]):
        return BAD
    if foreign_pr and value[0] != "9":
        return BAD
    if _ID_CHECK[2 * int(value[:17], 13) % 11] != value[17]:  # gb11643_check_char, its shape known
        return RejectionCode.ID_CHECKSUM
    return None


# --- GB 32100-2015 unified social credit code with the embedded GB 11714 organisation code --------------------
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_USCC17 = re.compile(r"[0-9A-HJ-NPQRTUWXY]{17}")
#: a USCC character → the base-34 digit of the same value (J, the alphabet's 18, is base 34's I)
_AS_BASE34 = bytes.maketrans(USCC_ALPHABET.encode(), b"0123456789ABCDEFGHIJKLMNOPQRSTU")
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _uscc_char(first17: str) -> str:
    # GB 32100 weighs the i-th character's value with 3^(i-1) mod 31: the weighted sum, mod 31, is the reversed
    # characters read in base 34 (34 ≡ 3 mod 31), in one C call; the tests compare with the weights written out
    return USCC_ALPHABET[-int(first17.encode().translate(_AS_BASE34)[::-1], 34) % 31]


def gb32100_check_char(first17: str) -> str:
    """GB 32100 check character over the first 17 characters (``ValueError`` outside the alphabet)."""
    if not _USCC17.fullmatch(first17):
        raise ValueError("a GB 32100 check character is computed over 17 characters of its alphabet")
    return _uscc_char(first17)


def gb11714_check_char(first8: str) -> str:
    """GB 11714 check of the organisation code (positions 9-17 of a USCC); receivers do not enforce it (§7.3)."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _GB11714_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def check_uscc(value: str) -> RejectionCode | None:
    """18 characters of the GB 32100 alphabet (else ``BAD_FORMAT``), then the check character."""
    if not _USCC_SHAPE.fullmatch(value):
        return BAD
    if _uscc_char(value[:17]) != value[17]:
        return RejectionCode.USCC_CHECKSUM
    return None


# --- other personal documents (§7.2) ---------------------------------------------------------------------------
_PASSPORT = re.compile(r"[A-Z0-9]{5,17}")
_HKMO = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
_TW = re.compile(r"[0-9]{8}")


def check_id_number(id_type: str, value: str) -> RejectionCode | None:
    """Shape and check character of an ID number for its canonical ``id_type`` (length is checked before)."""
    if id_type == "RESIDENT_ID":
        return _check_gb11643(value, foreign_pr=False)
    if id_type == "FOREIGN_PR":
        return _check_gb11643(value, foreign_pr=True)
    if id_type == "USCC":
        return check_uscc(value)
    pattern = {"PASSPORT": _PASSPORT, "HKMO_PERMIT": _HKMO, "TW_PERMIT": _TW}.get(id_type)
    if pattern is None or not pattern.fullmatch(value):
        return BAD
    return None


# --- GB/T 36904-2018 licence identifier ------------------------------------------------------------------------
A36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_A36_VALUE = {c: i for i, c in enumerate(A36)}
_LICENCE_ID = re.compile(
    r"1\.2\.156\.3005\.2\."
    r"(?P<type>[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3})\."
    r"(?P<issuer>[0-9A-HJ-NPQRTUWXY]{18})\."
    r"(?P<serial>[0-9A-Za-z]{1,32})\."
    r"(?P<version>[0-9]{3})\."
    r"(?P<check>[0-9A-Z])"
)
_TYPE_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3}")


def mod37_36(chars: str) -> str:
    """ISO 7064 MOD 37,36 hybrid check character, exactly as README §7.4 prints it."""
    p = 36
    for ch in chars:
        p = (p + _A36_VALUE[ch]) % 36 or 36
        p = p * 2 % 37
    return A36[(37 - p) % 36]


class LicenceIdParts:
    """The parts of a GB/T 36904 identifier that cross-field rules compare."""

    __slots__ = ("issuer", "serial", "type_code", "version")

    def __init__(self, type_code: str, issuer: str, serial: str, version: str) -> None:
        self.type_code = type_code
        self.issuer = issuer
        self.serial = serial
        self.version = version


def parse_licence_id(value: str) -> LicenceIdParts | None:
    m = _LICENCE_ID.fullmatch(value)
    if m is None or m["version"] == "000":
        return None
    return LicenceIdParts(m["type"], m["issuer"], m["serial"], m["version"])


def check_licence_id(value: str) -> RejectionCode | None:
    """Shape (``BAD_FORMAT``), then MOD 37,36 and the embedded USCCs (``LICENCE_ID_CHECKSUM``)."""
    m = _LICENCE_ID.fullmatch(value)
    if m is None or m["version"] == "000":
        return BAD
    body = (m["type"] + m["issuer"] + m["serial"] + m["version"]).upper()
    if mod37_36(body) != m["check"]:
        return RejectionCode.LICENCE_ID_CHECKSUM
    if check_uscc(m["type"][:18]) or check_uscc(m["issuer"]):
        return RejectionCode.LICENCE_ID_CHECKSUM
    return None


def check_type_code(value: str) -> RejectionCode | None:
    """Licence type code: definer USCC (18) + 3 digits; the USCC part checked per §7.3."""
    if not _TYPE_CODE.fullmatch(value):
        return BAD
    return check_uscc(value[:18])
