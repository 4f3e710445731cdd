"""Value formats: wire scalar → reference value and back, with the checks of README §5, §7 and §8.

A decoder takes the raw value found at a field's path (already known to be present) and returns the reference
value, or raises ``Fail`` with a rejection code; the engine adds the field path. Encoders are the inverse and
never fail on a valid record. Within one field the checks run in the order of §10 step 8: type and format
(``BAD_FORMAT``) → length (``FIELD_TOO_LONG``) → code list (``UNKNOWN_CODE``) → item (``UNKNOWN_ITEM``) → region
(``UNKNOWN_REGION``) → check characters. Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from gateway.errors import GatewayError
from gateway.errors import RejectionCode as C
from gateway.model import identifiers as ids
from gateway.model.timefmt import BEIJING, beijing_midnight, from_epoch_ms, to_epoch_ms

__all__ = [
    "DATETIME_WIRES",
    "DATE_WIRES",
    "Fail",
    "bad_text",
    "check_text",
]

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], Any]
MAX_INT = 999_999_999


class Fail(GatewayError):
    """A failed check inside one field; the engine turns it into a ``Refusal`` at the field's path."""

    __slots__ = ("code",)

    def __init__(self, code: C) -> None:
        self.code = code


# README §8: any character XML 1.0 allows; anything else (e.g. U+0001) is BAD_FORMAT.
bad_text = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]").search


def check_text(value: Any, max_len: int | None) -> str:
    if type(value) is not str or bad_text(value):
        raise Fail(C.BAD_FORMAT)
    if max_len is not None and len(value) > max_len:
        raise Fail(C.FIELD_TOO_LONG)
    return value


class TextCheck:
    """Text XML 1.0 allows (``BAD_FORMAT``), then at most ``max_len`` characters (``FIELD_TOO_LONG``).

    The checkers are small classes rather than closures so that the compiled decoder (``mappings/compiled.py``)
    can read what they check and write the check inline; called, they are the reference it is compared with.
    """

    __slots__ = ("max_len",)

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len

    def __call__(self, value: Any) -> str:
        if type(value) is not str or bad_text(value):
            raise Fail(C.BAD_FORMAT)
        if len(value) > self.max_len:
            raise Fail(C.FIELD_TOO_LONG)
        return value


def text_checker(max_len: int) -> TextCheck:
    """``check_text`` with its maximum bound in."""
    return TextCheck(max_len)


class CharsetCheck:
    """Characters from a set and a minimum (``BAD_FORMAT``), then the maximum (``FIELD_TOO_LONG``)."""

    __slots__ = ("match", "max_len", "min_len")

    def __init__(self, pattern: str, min_len: int, max_len: int | None) -> None:
        self.match = re.compile(pattern).fullmatch
        self.min_len = min_len
        self.max_len = max_len

    def __call__(self, value: Any) -> str:
        if type(value) is not str or len(value) < self.min_len or not self.match(value):
            raise Fail(C.BAD_FORMAT)
        if self.max_len is not None and len(value) > self.max_len:
            raise Fail(C.FIELD_TOO_LONG)
        return value


def charset_checker(pattern: str, min_len: int, max_len: int | None) -> CharsetCheck:
    return CharsetCheck(pattern, min_len, max_len)


class FixedCheck:
    """A fixed-length format: anything else, whatever its length, is ``BAD_FORMAT`` (README §5)."""

    __slots__ = ("match",)

    def __init__(self, pattern: str) -> None:
        self.match = re.compile(pattern).fullmatch

    def __call__(self, value: Any) -> str:
        if type(value) is not str or not self.match(value):
            raise Fail(C.BAD_FORMAT)
        return value


def fixed_checker(pattern: str) -> FixedCheck:
    return FixedCheck(pattern)


#: what a failed check says (never the value: it may be personal data)
DETAIL = {
    C.BAD_FORMAT: "value does not have the documented type or format",
    C.FIELD_TOO_LONG: "value is longer than the documented maximum",
    C.UNKNOWN_CODE: "code is not in the dialect's code list",
    C.UNKNOWN_ITEM: "item code is not in the platform's column of the crosswalk",
    C.UNKNOWN_REGION: "region is not in crosswalk/regions.csv",
    C.ID_CHECKSUM: "ID number check character is wrong",
    C.USCC_CHECKSUM: "unified social credit code check character is wrong",
    C.LICENCE_ID_CHECKSUM: "licence identifier check character is wrong",
}

# --- integers ---------------------------------------------------------------------------------------------------
XML_INT = re.compile(r"[0-9]{1,9}").fullmatch


def json_int(value: Any) -> int:
    """A JSON number without fraction or exponent: Python's json gives ``int`` for exactly those."""
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise Fail(C.BAD_FORMAT)
    return value


def text_int(value: Any) -> int:
    """XML: 1-9 decimal digits."""
    if type(value) is not str or not XML_INT(value):
        raise Fail(C.BAD_FORMAT)
    return int(value)


# --- date-times and dates (README §8) -----------------------------------------------------------------------------
def _dt(y: str, mo: str, d: str, h: str, mi: str, s: str) -> datetime:
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=BEIJING)
    except ValueError:
        raise Fail(C.BAD_FORMAT) from None


def _local_datetime(pattern: str) -> Decoder:
    match = re.compile(pattern).fullmatch

    def decode(value: Any) -> datetime:
        m = match(value) if type(value) is str else None
        if m is None:
            raise Fail(C.BAD_FORMAT)
        return _dt(*m.groups())

    return decode


_SEP_DT = r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"
_T_DT = r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
_COMPACT_DT = r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})"
_RFC3339 = re.compile(_T_DT + r"(Z|[+-][0-9]{2}:[0-9]{2})").fullmatch


def _bj(v: datetime) -> datetime:
    return v.astimezone(BEIJING)


def _enc_sep(v: datetime) -> str:
    v = _bj(v)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def _enc_t(v: datetime) -> str:
    v = _bj(v)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def _enc_compact(v: datetime) -> str:
    v = _bj(v)
    return f"{v.year:04d}{v.month:02d}{v.day:02d}{v.hour:02d}{v.minute:02d}{v.second:02d}"


def _dec_rfc3339(value: Any) -> datetime:
    """hunan: any offset (or ``Z``) accepted and converted; fractions and lower-case ``t``/``z`` refused."""
    m = _RFC3339(value) if type(value) is str else None
    if m is None:
        raise Fail(C.BAD_FORMAT)
    local = _dt(*m.groups()[:6])
    zone = m[7]
    if zone == "Z":
        offset_minutes = 0
    else:
        hh, mm = int(zone[1:3]), int(zone[4:6])
        if hh > 23 or mm > 59:
            raise Fail(C.BAD_FORMAT)
        offset_minutes = (hh * 60 + mm) * (1 if zone[0] == "+" else -1)
    try:
        return local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).astimezone(BEIJING)
    except OverflowError:
        raise Fail(C.BAD_FORMAT) from None


def _enc_rfc3339(v: datetime) -> str:
    return _enc_t(v) + "+08:00"


def _dec_epoch_ms(value: Any) -> datetime:
    """zlb: a JSON integer of milliseconds whose millisecond part is 000 (README §8)."""
    if type(value) is not int or value % 1000:
        raise Fail(C.BAD_FORMAT)
    try:
        return from_epoch_ms(value)
    except (OverflowError, ValueError):
        raise Fail(C.BAD_FORMAT) from None


DATETIME_WIRES: dict[str, tuple[Decoder, Encoder]] = {
    "yyyy-MM-dd HH:mm:ss": (_local_datetime(_SEP_DT), _enc_sep),
    "yyyy-MM-ddTHH:mm:ss": (_local_datetime(_T_DT), _enc_t),
    "yyyyMMddHHmmss": (_local_datetime(_COMPACT_DT), _enc_compact),
    "rfc3339": (_dec_rfc3339, _enc_rfc3339),
    "epoch_ms": (_dec_epoch_ms, to_epoch_ms),
}


def _date_decoder(pattern: str) -> Decoder:
    match = re.compile(pattern).fullmatch

    def decode(value: Any) -> date:
        m = match(value) if type(value) is str else None
        if m is None:
            raise Fail(C.BAD_FORMAT)
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise Fail(C.BAD_FORMAT) from None

    return decode


def _dec_epoch_date(value: Any) -> date:
    """zlb dates: the instant of 00:00:00.000 Beijing time on that day; any other instant is BAD_FORMAT."""
    instant = _dec_epoch_ms(value)
    if instant.hour or instant.minute or instant.second:
        raise Fail(C.BAD_FORMAT)
    return instant.date()


DATE_WIRES: dict[str, tuple[Decoder, Encoder]] = {
    "yyyy-MM-dd": (_date_decoder(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"), lambda d: d.isoformat()),
    "yyyyMMdd": (_date_decoder(r"([0-9]{4})([0-9]{2})([0-9]{2})"), lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}"),
    "epoch_ms": (_dec_epoch_date, lambda d: to_epoch_ms(beijing_midnight(d))),
}

# --- booleans ------------------------------------------------------------------------------------------------------
BOOL_WIRES: dict[str, tuple[Decoder, Encoder]] = {}


def _bool_pair(true: Any, false: Any) -> tuple[Decoder, Encoder]:
    def decode(value: Any) -> bool:
        if type(value) is type(true) and value == true:
            return True
        if type(value) is type(false) and value == false:
            return False
        raise Fail(C.BAD_FORMAT)

    return decode, lambda v: true if v else false


BOOL_WIRES["json"] = _bool_pair(True, False)
BOOL_WIRES["10"] = _bool_pair("1", "0")
BOOL_WIRES["truefalse"] = _bool_pair("true", "false")

# --- the identifier formats (README §7) ------------------------------------------------------------------------------
case_no = charset_checker(r"[0-9A-Za-z_\-]+", 6, 32)
phone = charset_checker(r"[0-9+\-() ]+", 5, 20)
basic_code = fixed_checker(r"[0-9]{12}")
region_shape = fixed_checker(r"[0-9]{6}")
sha256_hex = fixed_checker(r"[0-9a-f]{64}")
task_code = fixed_checker(r"[0-9A-Z]{31}")


def uscc(value: Any) -> str:
    if type(value) is not str:
        raise Fail(C.BAD_FORMAT)
    code = ids.check_uscc(value)
    if code is not None:
        raise Fail(code)
    return value


def licence_id(value: Any) -> str:
    if type(value) is not str:
        raise Fail(C.BAD_FORMAT)
    code = ids.check_licence_id(value)
    if code is not None:
        raise Fail(code)
    return value


def type_code(value: Any) -> str:
    if type(value) is not str:
        raise Fail(C.BAD_FORMAT)
    code = ids.check_type_code(value)
    if code is not None:
        raise Fail(code if code is C.BAD_FORMAT else C.USCC_CHECKSUM)
    return value
