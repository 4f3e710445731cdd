"""Mask personal data in anything that may reach a log line (PIPL; README §5, §7).

Personal data is found three ways, because a log line may hold a body excerpt, a ``repr`` of a dict or a sentence:

1. **By field name** (:mod:`.personal_fields`, read from the mapping files): the value of a personal field is
   masked whole, in JSON (``"APPLYNAME": "…"``, also ``'key': '…'`` reprs), XML elements and attributes
   (``<CertNo>…</CertNo>``, ``certNo="…"``, generic names such as ``Name`` only inside ``Applicant``, ``Agent``,
   ``Holder``) and ``key=value`` text.
2. **By format**, wherever it appears: 18-character resident / foreign permanent-resident ID numbers (a plausible
   birth date at characters 7–14, a digit or ``X`` last; the check character is *not* required, so a mistyped ID
   refused with ``ID_CHECKSUM`` is masked too), mainland mobile numbers ``1[3-9]`` + 9 digits, landline shapes,
   e-mail addresses, JWTs and bearer tokens. Passport and HK/MO/TW permit numbers have no shape distinct from other
   codes, so they are masked where they stand in a known field only.
3. **By value**: a value found under a personal field is masked wherever else it occurs in the same text or
   mapping (a name repeated in ``project_name`` or a remark).

Values under identifier fields (case numbers, item codes, department USCCs, licence identifiers, see
``FieldCatalogue.safe``) and GB/T 36904 licence identifiers are left readable and are not scanned by format.

Mask shapes (enough to tell values apart in an incident, never enough to re-identify; documented in
docs/operations.md): ID ``340121199904278686`` → ``3401************86`` (length kept); phone ``19546565528`` →
``195******28``; name ``赵娜`` → ``赵**`` (first character, length hidden); address → first three characters and
``***``; e-mail ``zhang.san@example.cn`` → ``z***@example.cn``; tokens → ``[redacted]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from .personal_fields import CATALOGUE, FieldCatalogue, FieldKind
from .shapes import (
    BEARER,
    EMAIL,
    HEX,
    ID18,
    JWT,
    LANDLINE,
    LICENCE_ID,
    MOBILE,
    NUMBERS,
    REDACTED,
    mask_by_kind,
    mask_email,
    mask_id,
    mask_phone,
)

__all__ = [
    "mask_by_kind",
    "mask_mapping",
    "mask_text",
    "masked_bytes_preview",
    "personal_values",
]

_NB = r"(?<![0-9A-Za-z])"  # no alphanumeric before (CJK text around a number is fine)
_NA = r"(?![0-9A-Za-z])"
_NS = r"(?:[A-Za-z_][\w.-]*:)?"  # an XML namespace prefix


# --- finding spans in text ---------------------------------------------------------------------------------------
def _alt(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))


Gated = list[tuple[str, re.Pattern[str]]]  # (a character the text must hold for the pattern to match, pattern)


def _value_patterns(keys: str) -> Gated:
    """JSON / repr pairs, XML elements and ``key=value`` / attributes for the key alternation ``keys``."""
    return [
        ('"', re.compile(r'"(?P<key>' + keys + r')"\s*:\s*(?:"(?P<v>(?:[^"\\]|\\.)*)"|(?P<n>-?\d[\d.]*))')),
        ("'", re.compile(r"'(?P<key>" + keys + r")'\s*:\s*(?:'(?P<v>(?:[^'\\]|\\.)*)'|(?P<n>-?\d[\d.]*))")),
        ("<", re.compile(r"<" + _NS + r"(?P<key>" + keys + r")(?:\s[^<>]*)?>(?P<v>[^<]*)</" + _NS + r"(?P=key)\s*>")),
        (
            "=",
            re.compile(
                r"(?<![\w.@-])(?P<key>" + keys + r")\s*=\s*(?:\"(?P<v>[^\"]*)\"|'(?P<n>[^']*)'|(?P<b>[^\s,;&\"'<>]+))"
            ),
        ),
    ]


class _Scanner:
    """Compiled patterns for one :class:`FieldCatalogue`."""

    def __init__(self, catalogue: FieldCatalogue) -> None:
        self.catalogue = catalogue
        self.personal = _value_patterns(_alt(catalogue.anywhere))
        self.safe = _value_patterns(_alt(catalogue.safe)) if catalogue.safe else []
        self.nested = {parent: _value_patterns(_alt(leaves)) for parent, leaves in catalogue.nested.items()}
        parents = _alt(catalogue.nested)
        self.json_parent = re.compile(r"[\"'](?P<p>" + parents + r")[\"']\s*:\s*\{(?P<body>[^{}]*)\}")
        self.xml_parent = re.compile(r"<" + _NS + r"(?P<p>" + parents + r")(?P<attrs>(?:\s[^<>]*?)?)(?P<end>/?)>")
        self.xml_close = {parent: re.compile(r"</" + _NS + re.escape(parent) + r"\s*>") for parent in catalogue.nested}


_SCANNER = _Scanner(CATALOGUE)


class _Edits:
    """Non-overlapping replacements over one string; the first claim of a span wins."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: list[tuple[int, int, str]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in self.spans)

    def claim(self, start: int, end: int, replacement: str) -> bool:
        if start >= end or not self.free(start, end):
            return False
        self.spans.append((start, end, replacement))
        return True

    def apply(self) -> str:
        out, pos = [], 0
        for start, end, replacement in sorted(self.spans):
            out.append(self.text[pos:start])
            out.append(replacement)
            pos = end
        out.append(self.text[pos:])
        return "".join(out)


def _value_span(m: re.Match[str]) -> tuple[int, int] | None:
    for group in ("v", "n", "b"):
        if group in m.re.groupindex and m.group(group) is not None:
            return m.span(group)
    return None


Found = dict[str, FieldKind]  # personal values seen so far → their kind, masked again wherever they recur


def _claim_fields(
    edits: _Edits,
    patterns: Gated,
    kind_of: Callable[[str], FieldKind | None],
    span: tuple[int, int],
    found: Found,
) -> None:
    for needle, pattern in patterns:
        if needle not in edits.text:
            continue
        for m in pattern.finditer(edits.text, *span):
            value_span = _value_span(m)
            kind = kind_of(m.group("key"))
            if value_span is None or kind is None:
                continue
            value = edits.text[value_span[0] : value_span[1]]
            if edits.claim(*value_span, mask_by_kind(value, kind)):
                found.setdefault(value, kind)


def _claim_nested(edits: _Edits, scanner: _Scanner, found: Found) -> None:
    """Generic names (``Name``, ``name``) count only directly inside a personal parent (``Applicant``, ``agent``)."""
    text, cat = edits.text, scanner.catalogue
    if "{" not in text and "<" not in text:
        return
    for m in scanner.json_parent.finditer(text):
        parent = m.group("p")
        _claim_fields(edits, scanner.nested[parent], partial(cat.kind, parent=parent), m.span("body"), found)
    for m in scanner.xml_parent.finditer(text):
        parent = m.group("p")
        element, attribute = scanner.nested[parent][2], scanner.nested[parent][3]
        kind_of = partial(cat.kind, parent=parent)
        _claim_fields(edits, [attribute], kind_of, m.span("attrs"), found)
        if m.group("end"):
            continue
        close = scanner.xml_close[parent].search(text, m.end())
        if close is not None:
            _claim_fields(edits, [element], kind_of, (m.end(), close.start()), found)


def _protect(edits: _Edits, scanner: _Scanner) -> None:
    """Claim identifier values unchanged, so the format scans leave case numbers and item codes readable."""
    for needle, pattern in scanner.safe:
        if needle not in edits.text:
            continue
        for m in pattern.finditer(edits.text):
            span = _value_span(m)
            if span is not None:
                edits.claim(*span, edits.text[span[0] : span[1]])
    if "3005" in edits.text:
        for m in LICENCE_ID.finditer(edits.text):
            edits.claim(*m.span(), m.group())
    if NUMBERS.search(edits.text):
        for m in HEX.finditer(edits.text):
            edits.claim(*m.span(), m.group())


def _claim_formats(edits: _Edits) -> None:
    """The shapes of README §7 and friends; each scan runs only when the text holds what it needs (speed)."""
    text = edits.text
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        for m in BEARER.finditer(text):
            edits.claim(*m.span(), m.group(1) + " " + REDACTED)
    if "eyJ" in text:
        for m in JWT.finditer(text):
            edits.claim(*m.span(), REDACTED)
    if "@" in text:
        for m in EMAIL.finditer(text):
            edits.claim(*m.span(), mask_email(m.group()))
    if not NUMBERS.search(text):
        return
    for m in ID18.finditer(text):
        edits.claim(*m.span(), mask_id(m.group()))
    for m in MOBILE.finditer(text):
        edits.claim(*m.span(), mask_phone(m.group()))
    for m in LANDLINE.finditer(text):
        edits.claim(*m.span(), mask_phone(m.group()))


def _propagates(value: str) -> bool:
    value = value.strip()
    return len(value) >= (6 if value.isascii() else 2) and "*" not in value


def _claim_values(edits: _Edits, found: Found) -> None:
    """Mask repeats of known personal values (a name inside a project name, an ID inside a remark)."""
    for value in sorted((v for v in found if _propagates(v)), key=len, reverse=True):
        exact = re.escape(value.strip())
        pattern = re.compile(_NB + exact + _NA if value.isascii() else exact)
        for m in pattern.finditer(edits.text):
            edits.claim(*m.span(), mask_by_kind(m.group(), found[value]))


def _mask_text(text: str, scanner: _Scanner, known: Found) -> str:
    edits = _Edits(text)
    found: Found = dict(known)
    _claim_nested(edits, scanner, found)
    _claim_fields(edits, scanner.personal, scanner.catalogue.anywhere.get, (0, len(text)), found)
    _protect(edits, scanner)
    _claim_formats(edits)
    _claim_values(edits, found)
    return edits.apply() if edits.spans else text


def _scanner_for(catalogue: FieldCatalogue | None) -> _Scanner:
    return _SCANNER if catalogue is None or catalogue is CATALOGUE else _Scanner(catalogue)


def mask_text(
    text: str, *, known: Mapping[str, FieldKind] | None = None, catalogue: FieldCatalogue | None = None
) -> str:
    """``text`` with personal data masked by field name, by format and by value (see the module docstring).

    ``known`` are personal values found elsewhere (see :func:`personal_values`), masked here wherever they occur:
    a log record's ``extra={"holderName": ...}`` also masks that name inside the record's traceback.
    ``catalogue`` defaults to the one read from the shipped mappings; tests pass their own.
    """
    return _mask_text(text, _scanner_for(catalogue), dict(known or {}))


# --- structured values -------------------------------------------------------------------------------------------
def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _collect(obj: Any, parent: str | None, cat: FieldCatalogue, found: Found) -> None:
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            kind = cat.kind(str(key), parent)
            if kind is not None and _is_scalar(value):
                found.setdefault(str(value), kind)
            else:
                _collect(value, str(key), cat, found)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _collect(item, parent, cat, found)


def _mask_obj(obj: Any, parent: str | None, scanner: _Scanner, found: Found) -> Any:
    cat = scanner.catalogue
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            name = str(key)
            kind = cat.kind(name, parent)
            if kind is not None and _is_scalar(value):
                out[key] = mask_by_kind(str(value), kind)
            elif cat.is_safe(name) and isinstance(value, str):
                out[key] = value
            else:
                out[key] = _mask_obj(value, name, scanner, found)
        return out
    if isinstance(obj, list | tuple):
        return [_mask_obj(item, parent, scanner, found) for item in obj]
    if isinstance(obj, str):
        return _mask_text(obj, scanner, found)
    return obj


def personal_values(obj: Any, *, catalogue: FieldCatalogue | None = None) -> dict[str, FieldKind]:
    """The values under personal fields anywhere in ``obj`` (nested dicts and lists), with their kinds."""
    found: Found = {}
    _collect(obj, None, catalogue or CATALOGUE, found)
    return found


def mask_mapping(
    obj: Any, *, known: Mapping[str, FieldKind] | None = None, catalogue: FieldCatalogue | None = None
) -> Any:
    """A copy of ``obj`` (nested dicts and lists) with personal data masked.

    Values of personal fields are masked whole by their kind (a number under ``TELPHONE`` becomes a masked
    string); identifier fields are kept; every other string goes through :func:`mask_text`, which also masks
    repeats of the personal values found anywhere in ``obj`` or given in ``known``. Tuples come back as lists.
    """
    scanner = _scanner_for(catalogue)
    found: Found = dict(known or {})
    _collect(obj, None, scanner.catalogue, found)
    return _mask_obj(obj, None, scanner, found)


_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def masked_bytes_preview(body: bytes, limit: int = 256) -> str:
    """A masked excerpt of a message body for a log line: at most ``limit`` characters, then ``…(+N bytes)``.

    The excerpt is decoded (UTF-8, or the XML declaration's encoding such as GB18030), masked over a window wider
    than the excerpt, and only then cut, so a value cut in half at the edge was already masked whole.
    """
    if limit <= 0:
        return f"…({len(body)} bytes)"
    m = _XML_ENCODING.match(body[:200])
    encoding = m.group(1).decode("ascii") if m else "utf-8"
    window = body[: (2 * limit + 256) * 4]
    try:
        text = window.decode(encoding, errors="replace")
    except LookupError:
        text = window.decode("utf-8", errors="replace")
    masked = mask_text(text[: 2 * limit + 256])
    if len(masked) <= limit and len(window) == len(body):
        return masked
    return masked[:limit] + f"…({len(body)} bytes)"
