"""Compile a record mapping's field table into one Python function (the decoding hot path).

The interpreter in ``engine.py`` defines what decoding means; this module turns the same compiled field table into
straight-line Python source, once per mapping, the way ``dataclasses`` writes ``__init__``: one block per field, in
table order, with the field's decoder bound by name, or its checks written inline where the decoder says what it
checks (``formats.TextCheck``, ``CharsetCheck``, ``FixedCheck``, ``codecs.CodeCheck``, ``IntCheck``: most fields of
every record). It removes the per-field dispatch (attribute loads, function calls, list-entry path strings) and
nothing else: every check, its order, its error path and its detail are those of ``engine._decode_field`` and
``RecordMapping._decode_list``, which the property tests compare against. ``COMPLEX`` is looked for in XML
mappings only: only the XML reader makes it.

Editing rules: generated code may only call the field's own decoder and the helpers passed in ``env``; the source
is kept on the function (``__source__``) for debugging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

from . import formats as fmt
from .codecs import CodeCheck, IntCheck

if TYPE_CHECKING:
    from .engine import FieldMapping, RecordMapping

__all__ = ["compile_decoder"]


def _missing(where: str) -> Refusal:
    return Refusal(C.MISSING_FIELD, where, "required field is absent or empty")


def _wrong(where: str) -> Refusal:
    return Refusal(C.BAD_FORMAT, where, "wrong type")


def _failed(where: str, fail: fmt.Fail) -> Refusal:
    return Refusal(fail.code, where, fmt.DETAIL.get(fail.code, ""))


def _refuse(where: str, code: C) -> Refusal:
    """What ``_failed`` makes of ``Fail(code)``, for the checks written inline."""
    return Refusal(code, where, fmt.DETAIL.get(code, ""))


class Source:
    """Generated source lines and the names they use (``bind`` gives each value its own name)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {}
        self._n = 0

    def bind(self, value: Any, prefix: str = "v") -> str:
        self._n += 1
        name = f"{prefix}{self._n}"
        self.env[name] = value
        return name

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def emit_store(src: Source, indent: int, target: str, ref: tuple[str, ...], value: str) -> None:
    """Write ``value`` at path ``ref`` of ``target``, its containers made on first use, in the order the fields
    come (``engine._put``): shared by the generated decoders and encoders."""
    if len(ref) == 1:
        src.add(indent, f"{target}[{ref[0]!r}] = {value}")
    else:
        node = target
        for seg in ref[:-1]:
            src.add(indent, f"_n = {node}.get({seg!r})")
            src.add(indent, "if _n is None:")
            src.add(indent + 1, f"_n = {node}[{seg!r}] = {{}}")
            node = "_n"
        src.add(indent, f"{node}[{ref[-1]!r}] = {value}")


def _raw(src: Source, indent: int, f: FieldMapping, tree: str) -> bool:
    """Set ``raw`` to the value at the field's path, ``None`` or ``''`` when absent (as ``_get`` says ABSENT), and
    ``WRONG`` when the path runs through a value that is not an object. True when ``WRONG`` is possible."""
    if f.key is not None:
        src.add(indent, f"raw = {tree}.get({f.key!r})")
        return False
    if len(f.path) == 2 and f.path[0][0] != "*" and f.path[1][0] != "*":
        # two steps (Applicant/Name, applicant.name): inline, as ``_get`` would walk them
        src.add(indent, f"raw = {tree}.get({f.path[0]!r})")
        src.add(indent, "if type(raw) is dict:")
        src.add(indent + 1, f"raw = raw.get({f.path[1]!r})")
        src.add(indent, "elif raw is not None and raw != '':")
        src.add(indent + 1, "raw = WRONG")
        return True
    src.add(indent, f"raw = _get({tree}, {src.bind(f.path, 'p')})")
    src.add(indent, "if raw is ABSENT:")
    src.add(indent + 1, "raw = None")
    return True


def _check(src: Source, indent: int, f: FieldMapping, out: str, where: str, xml: bool) -> None:
    """Set ``val`` to the field's reference value of ``raw`` (present), or raise its refusal: the decoder's own
    checks written inline for the formats of ``formats``/``codecs`` that say what they check, a call otherwise."""
    dec = f.decode
    bad = f"raise _refuse({where}, BAD)"
    if isinstance(dec, fmt.TextCheck):
        src.add(indent, "if type(raw) is not str or bad_text(raw):")
        src.add(indent + 1, bad)
        src.add(indent, f"if len(raw) > {dec.max_len}:")
        src.add(indent + 1, f"raise _refuse({where}, LONG)")
        src.add(indent, "val = raw")
    elif isinstance(dec, fmt.CharsetCheck):
        src.add(indent, f"if type(raw) is not str or len(raw) < {dec.min_len} or not {src.bind(dec.match, 'c')}(raw):")
        src.add(indent + 1, bad)
        if dec.max_len is not None:
            src.add(indent, f"if len(raw) > {dec.max_len}:")
            src.add(indent + 1, f"raise _refuse({where}, LONG)")
        src.add(indent, "val = raw")
    elif isinstance(dec, fmt.FixedCheck):
        src.add(indent, f"if type(raw) is not str or not {src.bind(dec.match, 'c')}(raw):")
        src.add(indent + 1, bad)
        src.add(indent, "val = raw")
    elif isinstance(dec, CodeCheck):
        src.add(indent, "if type(raw) is not int:" if dec.number else "if type(raw) is not str or bad_text(raw):")
        src.add(indent + 1, bad)
        src.add(indent, f"val = {src.bind(dec.to_ref, 'codes')}.get(raw)")
        src.add(indent, "if val is None:")
        src.add(indent + 1, f"raise _refuse({where}, UNKNOWN_CODE)")
    elif isinstance(dec, IntCheck):
        if dec.xml:
            src.add(indent, "if type(raw) is not str or not xml_int(raw):")
            src.add(indent + 1, bad)
            src.add(indent, "val = int(raw)")
        else:
            src.add(indent, f"if type(raw) is not int or not 0 <= raw <= {fmt.MAX_INT}:")
            src.add(indent + 1, bad)
            src.add(indent, "val = raw")
        if dec.level:
            src.add(indent, "if not 1 <= val <= 6:")
            src.add(indent + 1, f"raise _refuse({where}, UNKNOWN_CODE)")
        if dec.minimum > 0:  # the value is never negative
            src.add(indent, f"if val < {dec.minimum}:")
            src.add(indent + 1, bad)
    else:
        call = src.bind(dec, "d")
        src.add(indent, "try:")
        src.add(indent + 1, f"val = {call}(raw, {out})" if f.needs_out else f"val = {call}(raw)")
        src.add(indent, "except Fail as fail:")
        src.add(indent + 1, f"raise _failed({where}, fail) from None")


def _field(
    src: Source, indent: int, f: FieldMapping, tree: str, out: str, where: str, xml: bool, raw: str | None = None
) -> None:
    """One field's checks (README §10 step 8), as ``engine._decode_field`` runs them: absent (``MISSING_FIELD`` if
    required), then a wrong type (``BAD_FORMAT``), then the decoder's checks; ``raw`` is an expression for the value
    itself (a list's scalar entry) instead of the field's path in ``tree``."""
    if raw is not None:
        src.add(indent, f"raw = {raw}")
        maybe_wrong = False
    else:
        maybe_wrong = _raw(src, indent, f, tree)
    if f.required or f.group_required:
        src.add(indent, "if raw is None or raw == '':")
        src.add(indent + 1, f"raise _missing({where})")
    else:
        src.add(indent, "if raw is not None and raw != '':")
        indent += 1  # the checks below run only for a present value
    markers = [m for m, possible in (("WRONG", maybe_wrong), ("COMPLEX", xml)) if possible]
    if markers:
        src.add(indent, "if " + " or ".join(f"raw is {m}" for m in markers) + ":")
        src.add(indent + 1, f"raise _wrong({where})")
    _check(src, indent, f, out, where, xml)
    if f.role == "value" and f.ref:
        emit_store(src, indent, out, f.ref, "val")


def _present(src: Source, indent: int, f: FieldMapping, flag: str) -> None:
    """``flag = True`` when the field's path holds something (``_get(tree, path) is not ABSENT``)."""
    if f.key is None and not (len(f.path) == 2 and f.path[0][0] != "*" and f.path[1][0] != "*"):
        src.add(indent, f"if _get(tree, {src.bind(f.path, 'p')}) is not ABSENT:")
        src.add(indent + 1, f"{flag} = True")
        return
    _raw(src, indent, f, "tree")  # WRONG is something
    src.add(indent, "if raw is not None and raw != '':")
    src.add(indent + 1, f"{flag} = True")


def _list_raw(src: Source, indent: int, f: FieldMapping, fm: str, xml: bool) -> None:
    """``raw = _get(tree, f.path, xml)`` for a list field, written out when the path is one key: ABSENT when
    missing (an empty list in XML: no repeated element), ``null`` or ``""``."""
    if f.key is None:
        src.add(indent, f"raw = _get(tree, {fm}.path, {xml})")
        return
    src.add(indent, f"raw = tree.get({f.key!r}, ABSENT)")
    if xml:
        src.add(indent, "if raw is ABSENT:")
        src.add(indent + 1, "raw = []")
        src.add(indent, "elif raw is None or raw == '':")
    else:
        src.add(indent, "if raw is None or raw == '':")
    src.add(indent + 1, "raw = ABSENT")


def _list(src: Source, indent: int, f: FieldMapping, mapping: RecordMapping) -> None:
    """A list field: presence and type at its turn, then its entries one by one (``RecordMapping._decode_list``)."""
    fm = src.bind(f, "f")
    _list_raw(src, indent, f, fm, mapping.xml)
    src.add(indent, "if raw is ABSENT:")
    if f.required:
        src.add(indent + 1, f"raise _missing({fm}.where)")
    else:
        src.add(indent + 1, "pass")
    src.add(indent, "else:")
    src.add(indent + 1, "if type(raw) is not list:")
    src.add(indent + 2, f"raise Refusal(BAD, {fm}.where, 'a list is required')")
    if f.min_entries:
        src.add(indent + 1, f"if len(raw) < {f.min_entries}:")
        src.add(indent + 2, f"raise Refusal(MISSING, {fm}.where, 'at least {f.min_entries} entry required')")
    src.add(indent + 1, "entries = []")
    src.add(indent + 1, "for i, entry in enumerate(raw):")
    sep = repr(mapping.sep)
    if f.scalar_entries:
        sub = f.entry_fields[0]
        where = f"{fm}.where_at(i, {sep}, None)"
        src.add(indent + 2, "val = ABSENT")
        _field(src, indent + 2, sub, "", "out", where, mapping.xml, raw="entry")
        src.add(indent + 2, "entries.append(val)")
    else:
        src.add(indent + 2, "if type(entry) is not dict:")
        src.add(indent + 3, f"raise Refusal(BAD, {fm}.where_at(i, {sep}, None), 'an object is required')")
        src.add(indent + 2, "eo = {}")
        for sub in f.entry_fields:
            where = f"{fm}.where_at(i, {sep}, {src.bind(sub, 's')})"
            _field(src, indent + 2, sub, "entry", "eo", where, mapping.xml)
        src.add(indent + 2, "entries.append(eo)")
    emit_store(src, indent + 1, "out", f.ref, "entries")


def compile_decoder(mapping: RecordMapping, get: Callable[..., Any], markers: dict[str, Any]) -> Callable[[Any], Any]:
    """The mapping's ``decode_values`` as one generated function ``decode(tree) -> dict``."""
    src = Source()
    src.env.update(markers)
    src.env.update(
        _get=get,
        _missing=_missing,
        _wrong=_wrong,
        _failed=_failed,
        _refuse=_refuse,
        Fail=fmt.Fail,
        Refusal=Refusal,
        bad_text=fmt.bad_text,
        xml_int=fmt.XML_INT,
        BAD=C.BAD_FORMAT,
        LONG=C.FIELD_TOO_LONG,
        UNKNOWN_CODE=C.UNKNOWN_CODE,
        MISSING=C.MISSING_FIELD,
        TOO_MANY=C.TOO_MANY_ENTRIES,
    )
    src.add(0, "def decode(tree):")
    for f in mapping.fields:  # step 7: entry counts before any field
        if f.is_list and f.max_entries is not None:
            fm = src.bind(f, "f")
            _list_raw(src, 1, f, fm, mapping.xml)
            src.add(1, f"if type(raw) is list and len(raw) > {f.max_entries}:")
            src.add(2, f"raise Refusal(TOO_MANY, {fm}.where, 'more than {f.max_entries} entries')")
    for g in sorted({f.group for f in mapping.fields if f.group}):  # a group is present when any field of it is
        src.add(1, f"g_{g} = False")
        for i, f in enumerate([f for f in mapping.fields if f.group == g]):
            if i:  # the first field present decides, as any() does
                src.add(1, f"if not g_{g}:")
            _present(src, 2 if i else 1, f, f"g_{g}")
    src.add(1, "out = {}")
    for f in mapping.fields:
        indent = 1
        if f.group is not None:
            src.add(1, f"if g_{f.group}:")
            indent = 2
        if f.is_list:
            _list(src, indent, f, mapping)
        else:
            _field(src, indent, f, "tree", "out", repr(f.where), mapping.xml)
    src.add(1, "return out")
    code = "\n".join(src.lines)
    namespace: dict[str, Any] = dict(src.env)
    exec(compile(code, f"<mapping {mapping.dialect}:{mapping.record_type}>", "exec"), namespace)  # noqa: S102
    decode: Callable[[Any], Any] = namespace["decode"]
    decode.__source__ = code  # type: ignore[attr-defined]
    return decode
