"""The mapping engine: a small pure interpreter of the declarative mapping files.

A mapping file (``mappings/<dialect>/<record type>.toml``) lists a record's wire fields in the order of its
dialect document's table: the field's path in the message, the reference field it carries (README §5) and how the
value travels on this wire (JSON number or string, time format, 12-digit region, …). ``reference.toml`` says what
each reference field is (format, maximum, requirement). ``mappings.loader.compile_mapping`` joins the two into a
``RecordMapping``
that decodes a message tree (nested dicts and lists, as ``json`` gives them and as the XML codec builds them) into
reference values, and encodes a canonical record back into a tree.

Decoding runs the checks of README §10 in order: entry counts (step 7), then every field top to bottom, each
field all its checks (step 8); the caller runs the cross-field rules (step 9) on the built record. The first
failure is raised as a ``Refusal`` naming the field's path in the dialect's own terms.

Editing rules: the engine knows no platform. A dialect difference belongs in a mapping file or in its adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import MAPPED_TYPES, builder

from . import formats as fmt
from .codecs import identity
from .compiled import compile_decoder
from .compiled_encoder import Encoder, compile_encoder
from .tables import Tables

__all__ = ["ABSENT", "COMPLEX", "FieldMapping", "MappingContext", "RecordMapping"]


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: a field that is not there (missing key, ``null``, ``""``, an empty element)
ABSENT: Any = _Marker("ABSENT")
#: an XML element holding child elements where text is expected (README §8: BAD_FORMAT)
COMPLEX: Any = _Marker("COMPLEX")
#: a path that runs through a value that is not an object
_WRONG_TYPE: Any = _Marker("WRONG_TYPE")


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What decoding and encoding need besides the message: code lists, crosswalk, regions, item columns.

    ``item_columns`` are the crosswalk columns whose local codes this dialect accepts on input (anhui accepts
    either site's code, README §6).
    """

    tables: Tables
    item_columns: tuple[str, ...] = ()

    def item_lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for col in self.item_columns:
            lookup.update(self.tables.crosswalk.local_to_basic.get(col, {}))
        return lookup


@dataclass(slots=True)
class FieldMapping:
    """One row of a dialect's field table, compiled."""

    path: tuple[str, ...]  # navigation from the record (or list entry) object
    where: str  # the documented path, for rejections
    ref: tuple[str, ...]  # reference field segments (relative to the list entry for list sub-fields)
    required: bool
    group: str | None  # "agent": the field belongs to an optional group (README §5.1 agent)
    decode: Callable[..., Any]
    encode: Callable[[Any], Any]
    role: str = "value"  # "value" sets the reference field; "check" only validates (anhui CATALOG_CODE)
    derive: tuple[tuple[str, ...], ...] = ()
    is_list: bool = False
    max_entries: int | None = None
    min_entries: int = 0
    entry_fields: list[FieldMapping] = field(default_factory=list)
    scalar_entries: bool = False
    item_field: bool = False
    group_required: bool = False  # required when its group is present
    needs_out: bool = False  # the decoder reads earlier values of the record (an ID number its id type)
    key: str | None = None  # the path when it is one step (the fast path)
    ref_key: str | None = None  # the reference name when it is one step

    def __post_init__(self) -> None:
        self.key = self.path[0] if len(self.path) == 1 and self.path[0][0] != "*" else None
        self.ref_key = self.ref[0] if len(self.ref) == 1 else None

    def where_at(self, index: int, sep: str, sub: FieldMapping | None) -> str:
        one = index + 1 if sep == "/" else index  # XPath counts from 1, JSON arrays from 0
        base = f"{self.where}[{one}]"
        if sub is None or not sub.path:
            return base
        return base + sep + sep.join(sub.path)


def _get(tree: Any, path: tuple[str, ...], xml: bool = False) -> Any:
    """The raw value at ``path``: ABSENT, _WRONG_TYPE, COMPLEX or the value.

    With ``xml``, a repeated element that does not occur under a present parent is an empty list (g60
    ``<Materials/>``; shanghai lists have no container at all, README §8).
    """
    node = tree
    last = len(path) - 1
    for i, seg in enumerate(path):
        if type(node) is not dict:
            return ABSENT if node is None or node == "" else _WRONG_TYPE
        if seg in ("*key", "*value"):  # a one-member object {"名称": "值"} (anhui.md §6.4)
            if len(node) != 1:
                return _WRONG_TYPE
            ((k, v),) = node.items()
            node = k if seg == "*key" else v
            continue
        nxt = node.get(seg, ABSENT)
        if nxt is ABSENT:
            return [] if (xml and i == last) else ABSENT
        node = nxt
    if node is None or node == "":
        return ABSENT
    return node


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for seg in path[:-1]:
        nxt = node.get(seg)
        if nxt is None:
            nxt = node[seg] = {}
        node = nxt
    node[path[-1]] = value


def _ref_get(record: Any, ref: tuple[str, ...]) -> Any:
    value = record
    for seg in ref:
        if value is None:
            return None
        value = getattr(value, seg)
    return value


def _ref_put(out: dict[str, Any], ref: tuple[str, ...], value: Any) -> None:
    node = out
    for seg in ref[:-1]:
        node = node.setdefault(seg, {})
    node[ref[-1]] = value


def _decode_field(
    f: FieldMapping, tree: Any, out: dict[str, Any], entry: tuple[FieldMapping, int, str, FieldMapping | None] | None
) -> Any:
    """One field's checks in the order of README §10 step 8; ``entry`` locates a list entry for the error path."""
    key = f.key
    if key is not None:  # the record object and list entries are dicts (checked by the adapter and _decode_list)
        raw = tree.get(key, ABSENT)
        if raw is None or raw == "":
            raw = ABSENT
    else:
        raw = _get(tree, f.path)
    if raw is ABSENT:
        if f.required or f.group_required:
            raise Refusal(C.MISSING_FIELD, _where(f, entry), "required field is absent or empty")
        return ABSENT
    if raw is _WRONG_TYPE or raw is COMPLEX:
        raise Refusal(C.BAD_FORMAT, _where(f, entry), "wrong type")
    try:
        return f.decode(raw, out) if f.needs_out else f.decode(raw)
    except fmt.Fail as fail:
        raise Refusal(fail.code, _where(f, entry), fmt.DETAIL.get(fail.code, "")) from None


def _where(f: FieldMapping, entry: tuple[FieldMapping, int, str, FieldMapping | None] | None) -> str:
    if entry is None:
        return f.where
    parent, index, sep, sub = entry
    return parent.where_at(index, sep, sub)


class RecordMapping:
    """A compiled mapping of one record type in one dialect."""

    def __init__(
        self,
        dialect: str,
        record_type: str,
        root: str,
        sep: str,
        fields: list[FieldMapping],
        rules: list[dict[str, Any]],
    ) -> None:
        self.dialect = dialect
        self.record_type = record_type
        self.root = root
        self.sep = sep
        self.xml = sep == "/"
        self.fields = fields
        self.rules = rules
        self.record_class = MAPPED_TYPES[record_type]
        self.build = builder(self.record_class)  # reference values → record (consumes the dict)
        self.ref_where = {".".join(f.ref): f.where for f in fields if f.role == "value"}
        for f in fields:
            for sub in f.entry_fields:
                self.ref_where.setdefault(".".join(f.ref) + "[]." + ".".join(sub.ref), sub.where)
        self.item_where = next((f.where for f in fields if f.item_field), None)
        self._groups = sorted({f.group for f in fields if f.group})
        for f in fields:  # every field under a group's reference name belongs to the group (a phone alone counts)
            if f.group is None and f.ref[0] in self._groups:
                f.group = f.ref[0]
        self._by_path = {sep.join(f.path): f for f in fields}
        self._counted = [f for f in fields if f.is_list and f.max_entries is not None]
        # generated on first decode: Python's compile() of a decoder costs ~7 ms, and an adapter holds a mapping per
        # record type, of which ``gateway translate`` decodes one (issue 15 item 5)
        self._compiled: Callable[[Any], Any] | None = None
        self._encoder: Encoder | None = None  # likewise, on first encode

    # --- decoding -------------------------------------------------------------------------------------------------
    def decode_values(self, tree: Any) -> dict[str, Any]:
        """Run README §10 steps 7-8 over the record object ``tree`` and return the reference values.

        Runs the generated form of ``interpret_values`` (``mappings/compiled.py``): the same checks, faster.
        """
        decoder = self._compiled
        if decoder is None:  # two threads may both compile it: the same function, and either is kept
            decoder = self._compiled = compile_decoder(
                self, _get, {"ABSENT": ABSENT, "WRONG": _WRONG_TYPE, "COMPLEX": COMPLEX}
            )
        values: dict[str, Any] = decoder(tree)
        return values

    def interpret_values(self, tree: Any) -> dict[str, Any]:
        """The reference semantics of ``decode_values``, field by field (kept for the differential tests)."""
        xml = self.xml
        for f in self._counted:  # step 7: entry counts before any field
            raw = _get(tree, f.path, xml)
            if type(raw) is list and len(raw) > f.max_entries:  # type: ignore[operator]
                raise Refusal(C.TOO_MANY_ENTRIES, f.where, f"more than {f.max_entries} entries")
        absent_groups = [g for g in self._groups if not self._group_present(tree, g)]
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.group is not None and f.group in absent_groups:
                continue
            if f.is_list:
                self._decode_list(f, _get(tree, f.path, xml), out)
                continue
            value = _decode_field(f, tree, out, None)
            if value is not ABSENT and f.role == "value":
                if f.ref_key is not None:
                    out[f.ref_key] = value
                else:
                    _ref_put(out, f.ref, value)
        return out

    def _group_present(self, tree: Any, group: str) -> bool:
        return any(_get(tree, f.path) is not ABSENT for f in self.fields if f.group == group)

    def _decode_list(self, f: FieldMapping, raw: Any, out: dict[str, Any]) -> None:
        if raw is ABSENT:
            if f.required:  # the detail the compiled decoder, which runs, has always given
                raise Refusal(C.MISSING_FIELD, f.where, "required field is absent or empty")
            return
        if type(raw) is not list:
            raise Refusal(C.BAD_FORMAT, f.where, "a list is required")
        if len(raw) < f.min_entries:
            raise Refusal(C.MISSING_FIELD, f.where, f"at least {f.min_entries} entry required")
        entries: list[Any] = []
        sep = self.sep
        subs = f.entry_fields
        if f.scalar_entries:
            sub = subs[0]
            for i, entry in enumerate(raw):
                entries.append(_decode_field(sub, {"": entry}, out, (f, i, sep, None)))
        else:
            for i, entry in enumerate(raw):
                if type(entry) is not dict:
                    raise Refusal(C.BAD_FORMAT, f.where_at(i, sep, None), "an object is required")
                entry_out: dict[str, Any] = {}
                for sub in subs:
                    value = _decode_field(sub, entry, entry_out, (f, i, sep, sub))
                    if value is not ABSENT:
                        if sub.ref_key is not None:
                            entry_out[sub.ref_key] = value
                        else:
                            _ref_put(entry_out, sub.ref, value)
                entries.append(entry_out)
        _ref_put(out, f.ref, entries)

    def check_wire_rules(self, tree: Any) -> None:
        """Dialect rules over wire values (README §10 step 9, the anhui TASK_CODE rules)."""
        for rule in self.rules:
            target = self._by_path[rule["field"]]
            value = _get(tree, target.path)
            if rule["check"] == "suffix":
                whole = _get(tree, self._by_path[rule["of"]].path)
                ok = type(whole) is str and whole[-len(value) :] == value
            else:  # "concat"
                parts = [_get(tree, self._by_path[w].path) for w in rule["of"]]
                ok = value == "".join(str(p) for p in parts)
            if not ok:
                raise Refusal(C.RULE_VIOLATION, target.where, rule.get("detail", "fields disagree"))

    def decode(self, tree: Any) -> Any:
        """Decode the record object ``tree`` into the canonical record (steps 7-8 and the wire rules)."""
        values = self.decode_values(tree)
        self.check_wire_rules(tree)
        return self.build(values)

    # --- encoding -------------------------------------------------------------------------------------------------
    def encode(self, record: Any, item_codes: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The record as a message tree in this dialect (absent optionals omitted, lists always sent).

        ``item_codes`` maps 基本编码 → the destination platform's local code (README §6); an item the destination
        does not offer raises ``Refusal(UNKNOWN_ITEM)`` at this mapping's item path (the caller re-places it at
        the source message's item field, §10 step 10).

        Runs the generated form of ``interpret_encode`` (``mappings/compiled_encoder.py``), made on first use.
        """
        encoder = self._encoder
        if encoder is None:  # two threads may both compile it: the same function, and either is kept
            encoder = self._encoder = compile_encoder(self, identity)
        return encoder(record, item_codes)

    def interpret_encode(self, record: Any, item_codes: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The reference semantics of ``encode``, field by field (kept for the differential tests)."""
        tree: dict[str, Any] = {}
        for f in self.fields:
            if f.is_list:
                values = _ref_get(record, f.ref)
                if values is None:
                    continue
                if f.scalar_entries:
                    enc = f.entry_fields[0].encode
                    entries: list[Any] = [enc(v) for v in values]
                else:
                    entries = [self._encode_entry(f.entry_fields, v) for v in values]
                _put(tree, f.path, entries)
                continue
            if f.derive:
                value = "".join(str(_ref_get(record, r)) for r in f.derive)
            else:
                value = getattr(record, f.ref_key) if f.ref_key is not None else _ref_get(record, f.ref)
                if value is None:
                    continue
                value = f.encode(value)
                if f.item_field and item_codes is not None:
                    local = item_codes.get(value)
                    if local is None:
                        raise Refusal(C.UNKNOWN_ITEM, f.where, "the destination platform does not offer the item")
                    value = local
            if f.key is not None:
                tree[f.key] = value
            else:
                _put(tree, f.path, value)
        return tree

    @staticmethod
    def _encode_entry(subs: list[FieldMapping], value: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        pair_key: Any = None
        for sub in subs:
            v = getattr(value, sub.ref_key) if sub.ref_key is not None else _ref_get(value, sub.ref)
            if v is None:
                continue
            wire = sub.encode(v)
            if sub.key is not None:
                entry[sub.key] = wire
            elif sub.path == ("*key",):
                pair_key = wire
            elif sub.path == ("*value",):
                entry[pair_key] = wire
            else:
                _put(entry, sub.path, wire)
        return entry

    # --- structure, for the XML codec ---------------------------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        """The element structure: name → None (leaf), dict (container) or [dict | None] (repeated)."""
        shape: dict[str, Any] = {}
        for f in self.fields:
            _add_shape(shape, f.path, [] if f.is_list else None)
            if f.is_list:
                holder = _shape_at(shape, f.path)
                if f.scalar_entries:
                    holder.append(None)
                else:
                    sub_shape: dict[str, Any] = {}
                    for sub in f.entry_fields:
                        _add_shape(sub_shape, sub.path, None)
                    holder.append(sub_shape)
        return shape


def _add_shape(shape: dict[str, Any], path: tuple[str, ...], leaf: Any) -> None:
    node = shape
    for seg in path[:-1]:
        nxt = node.get(seg)
        if not isinstance(nxt, dict):
            nxt = node[seg] = {}
        node = nxt
    node.setdefault(path[-1], leaf)


def _shape_at(shape: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = shape
    for seg in path:
        node = node[seg]
    return node
