"""Field codecs: one field's format carried on one dialect's wire, as a (decoder, encoder) pair.

``build_codec`` chooses the pair from the reference field's format (reference.toml), the row's wire options and the
dialect's settings; ``formats`` holds the checks themselves. Decoders take the raw value (the ID number's decoder
also the values decoded so far, to read its id type) and raise ``formats.Fail``; encoders never fail on a valid
record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import ConfigError
from gateway.errors import RejectionCode as C
from gateway.model import identifiers as ids

from . import formats as fmt

if TYPE_CHECKING:
    from .engine import MappingContext

__all__ = ["CodeCheck", "IntCheck", "build_codec", "identity"]

#: Formats whose wire value is the reference value: checked, never converted.
_CHECKED_AS_IS: dict[str, Callable[[Any], Any]] = {
    "case_no": fmt.case_no,
    "phone": fmt.phone,
    "sha256": fmt.sha256_hex,
    "uscc": fmt.uscc,
    "licence_id": fmt.licence_id,
    "type_code": fmt.type_code,
    "task_code": fmt.task_code,
    "basic_code": fmt.basic_code,
}


def build_codec(
    source: str,
    key: str,
    kind: str,
    ref_spec: Mapping[str, Any],
    row: Mapping[str, Any],
    ctx: MappingContext,
    settings: Mapping[str, Any],
) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    """The (decoder, encoder) pair of one field: its format, carried on this dialect's wire."""
    xml = settings.get("syntax") == "xml"
    max_len = ref_spec.get("max")
    ident = identity

    if kind in ("text", "label"):
        return fmt.text_checker(max_len if max_len is not None else 1 << 30), ident
    if kind in _CHECKED_AS_IS:
        return _CHECKED_AS_IS[kind], ident
    if kind in ("region", "area"):
        return _region_codec(kind, row.get("wire"), ctx)
    if kind in ("int", "level"):
        return IntCheck(xml, kind == "level", ref_spec.get("min", 0)), (str if xml else ident)
    if kind == "bool":
        wire = row.get("wire", settings.get("bool", "truefalse" if xml else "json"))
        dec_b, enc_b = fmt.BOOL_WIRES[wire]
        return dec_b, enc_b
    if kind == "datetime":
        dec_t, enc_t = fmt.DATETIME_WIRES[row.get("wire", settings["datetime"])]
        return dec_t, enc_t
    if kind == "date":
        dec_d, enc_d = fmt.DATE_WIRES[row.get("wire", settings["date"])]
        return dec_d, enc_d
    if kind == "code":
        return _code_codec(source, key, ref_spec["list"], row, ctx, settings)
    if kind == "id_number":
        return _id_number_codec(tuple(ref_spec["id_type"].split(".")), max_len), ident
    if kind == "item":
        return _item_codec(ctx)
    raise ConfigError(source, key, f"unknown format {kind!r}", "see the list at the top of reference.toml")


def identity(value: Any) -> Any:
    """The encoder (and check-only decoder result) of a value carried as it is; the compiled encoder writes it as
    no call at all."""
    return value


def _region_codec(kind: str, wire: str | None, ctx: MappingContext) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    served = ctx.tables.regions.platform
    twelve = wire == "region12"  # anhui.md §6.3, §6.5: GB/T 2260 code + "000000"
    shape = fmt.fixed_checker(r"[0-9]{6}000000") if twelve else fmt.region_shape

    def decode(raw: Any) -> str:
        value = shape(raw)[:6]
        if kind == "region" and value not in served:
            raise fmt.Fail(C.UNKNOWN_REGION)
        return value

    return decode, ((lambda v: v + "000000") if twelve else identity)


def _code_codec(
    source: str, key: str, list_name: str, row: Mapping[str, Any], ctx: MappingContext, settings: Mapping[str, Any]
) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    column = settings["codes_column"]
    code_list = ctx.tables.codes.get(list_name)
    if code_list is None or not code_list.to_ref.get(column):
        raise ConfigError(source, key, f"code list {list_name!r} has no column {column!r}")
    to_ref = code_list.to_ref[column]
    to_wire = code_list.to_wire[column]
    if row.get("json") == "number":
        by_int = {int(k): v for k, v in to_ref.items()}
        wire_int = {k: int(v) for k, v in to_wire.items()}
        return CodeCheck(by_int, number=True), wire_int.__getitem__
    return CodeCheck(to_ref, number=False), to_wire.__getitem__


class IntCheck:
    """A whole number (a JSON integer, or 1-9 digits of XML text), a level 1-6 (else ``UNKNOWN_CODE``, README §5:
    the item level is a coded value), at least ``minimum``. A class, as ``formats.TextCheck``, so that the compiled
    decoder writes it inline."""

    __slots__ = ("level", "minimum", "xml")

    def __init__(self, xml: bool, level: bool, minimum: int) -> None:
        self.xml = xml
        self.level = level
        self.minimum = minimum

    def __call__(self, raw: Any) -> int:
        value = fmt.text_int(raw) if self.xml else fmt.json_int(raw)
        if self.level and not 1 <= value <= 6:
            raise fmt.Fail(C.UNKNOWN_CODE)
        if value < self.minimum:
            raise fmt.Fail(C.BAD_FORMAT)
        return value


class CodeCheck:
    """A code of the dialect's column of a code list → its reference value: text XML 1.0 allows, or a JSON integer
    where the dialect sends the code as a number (``BAD_FORMAT``), then in the list (``UNKNOWN_CODE``)."""

    __slots__ = ("number", "to_ref")

    def __init__(self, to_ref: Mapping[Any, str], *, number: bool) -> None:
        self.to_ref = to_ref
        self.number = number

    def __call__(self, raw: Any) -> str:
        if (type(raw) is not int) if self.number else (type(raw) is not str or fmt.bad_text(raw)):
            raise fmt.Fail(C.BAD_FORMAT)
        ref = self.to_ref.get(raw)
        if ref is None:
            raise fmt.Fail(C.UNKNOWN_CODE)
        return ref


def _id_number_codec(id_type_ref: tuple[str, ...], max_len: int | None) -> Callable[..., Any]:
    """README §5: length first, then the shape and check character of §7 for the person's id type."""

    def decode(raw: Any, out: dict[str, Any]) -> str:
        value = fmt.check_text(raw, max_len)
        node: Any = out
        for seg in id_type_ref:
            node = node.get(seg) if isinstance(node, dict) else None
        code = ids.check_id_number(node or "", value)
        if code is not None:
            raise fmt.Fail(code)
        return value

    return decode


def _item_codec(ctx: MappingContext) -> tuple[Callable[..., Any], Callable[[Any], Any]]:
    """A local item code → 基本编码 through the crosswalk; codes are opaque, never judged by shape (§6)."""
    lookup = ctx.item_lookup()

    def decode(raw: Any) -> str:
        if type(raw) is not str:
            raise fmt.Fail(C.BAD_FORMAT)
        basic = lookup.get(raw)
        if basic is None:
            raise fmt.Fail(C.UNKNOWN_ITEM)
        return basic

    # Encoding needs the destination column, which depends on the record (the anhui site rule): see
    # ``RecordMapping.encode(item_codes=...)``.
    return decode, identity
