"""Compile a record mapping's field table into one Python function that encodes (the encoding hot path).

``RecordMapping.interpret_encode`` defines what encoding means; this module writes the same walk as straight-line
Python source, once per mapping, as ``compiled.py`` does for decoding: one block per field in table order, with
the reference path read by attribute, the field's encoder bound by name (or written inline when it is the identity,
``str`` or a code list's lookup) and the message path built as ``_put`` builds it, so the tree's keys come in the
same order. It removes the per-field dispatch and nothing else; the tests compare both on every sample and on
generated records, tree for tree and refusal for refusal.

Editing rules: generated code may only read the record's attributes, call the field's own encoder and the names
bound in ``env``; the source is kept on the function (``__source__``) for debugging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

from .compiled import Source, emit_store

if TYPE_CHECKING:
    from .engine import FieldMapping, RecordMapping

__all__ = ["compile_encoder"]

Encoder = Callable[[Any, Mapping[str, str] | None], dict[str, Any]]


def _unknown_item(where: str) -> Refusal:
    return Refusal(C.UNKNOWN_ITEM, where, "the destination platform does not offer the item")


def _read(src: Source, indent: int, target: str, holder: str, ref: tuple[str, ...]) -> None:
    """``target = _ref_get(holder, ref)``: each step by attribute, ``None`` as soon as a step is ``None``."""
    src.add(indent, f"{target} = {holder}.{ref[0]}")
    for seg in ref[1:]:
        src.add(indent, f"if {target} is not None:")
        src.add(indent + 1, f"{target} = {target}.{seg}")


def _encoded(src: Source, encode: Callable[[Any], Any], value: str, identity: Callable[[Any], Any]) -> str:
    """The expression of ``encode(value)``: inline for the identity, ``str`` and a dict's ``__getitem__``."""
    if encode is identity:
        return value
    if encode is str:
        return f"str({value})"
    owner = getattr(encode, "__self__", None)
    if type(owner) is dict and getattr(encode, "__name__", "") == "__getitem__":
        return f"{src.bind(owner, 'm')}[{value}]"  # the same KeyError for a value outside the list
    return f"{src.bind(encode, 'e')}({value})"


def _scalar(src: Source, f: FieldMapping, identity: Callable[[Any], Any]) -> None:
    """One field as ``RecordMapping.interpret_encode`` writes it: absent (None) is left out, derived fields are
    the ``str`` of their parts joined, an item code is looked up in the destination's codes."""
    indent = 1
    if f.derive:
        for i, ref in enumerate(f.derive):
            _read(src, indent, f"_d{i}", "record", ref)
        parts = ", ".join(f"str(_d{i})" for i in range(len(f.derive)))
        src.add(indent, f"w = ''.join(({parts},))")
    else:
        _read(src, indent, "v", "record", f.ref)
        src.add(indent, "if v is not None:")
        indent += 1
        wire = _encoded(src, f.encode, "v", identity)
        if f.item_field:
            src.add(indent, f"w = {wire}")
            src.add(indent, "if item_codes is not None:")
            src.add(indent + 1, "local = item_codes.get(w)")
            src.add(indent + 1, "if local is None:")
            src.add(indent + 2, f"raise _unknown_item({f.where!r})")
            src.add(indent + 1, "w = local")
        elif f.key is not None:
            src.add(indent, f"tree[{f.key!r}] = {wire}")
            return
        else:
            src.add(indent, f"w = {wire}")
    if f.key is not None:
        src.add(indent, f"tree[{f.key!r}] = w")
    else:
        emit_store(src, indent, "tree", f.path, "w")


def _entry(src: Source, indent: int, subs: list[FieldMapping], identity: Callable[[Any], Any]) -> None:
    """One list entry as ``RecordMapping._encode_entry`` writes it (a one-member object for ``*key``/``*value``)."""
    src.add(indent, "entry = {}")
    if any(sub.path in (("*key",), ("*value",)) for sub in subs):
        src.add(indent, "pair_key = None")
    for sub in subs:
        _read(src, indent, "v", "item", sub.ref)
        src.add(indent, "if v is not None:")
        wire = _encoded(src, sub.encode, "v", identity)
        if sub.key is not None:
            src.add(indent + 1, f"entry[{sub.key!r}] = {wire}")
        elif sub.path == ("*key",):
            src.add(indent + 1, f"pair_key = {wire}")
        elif sub.path == ("*value",):
            src.add(indent + 1, f"entry[pair_key] = {wire}")
        else:
            emit_store(src, indent + 1, "entry", sub.path, wire)
    src.add(indent, "entries.append(entry)")


def _list(src: Source, f: FieldMapping, identity: Callable[[Any], Any]) -> None:
    """A list field: left out when the record has none, else every entry (an empty list is sent)."""
    _read(src, 1, "values", "record", f.ref)
    src.add(1, "if values is not None:")
    if f.scalar_entries:
        wire = _encoded(src, f.entry_fields[0].encode, "item", identity)
        src.add(2, f"entries = [{wire} for item in values]")
    else:
        src.add(2, "entries = []")
        src.add(2, "for item in values:")
        _entry(src, 3, f.entry_fields, identity)
    emit_store(src, 2, "tree", f.path, "entries")


def compile_encoder(mapping: RecordMapping, identity: Callable[[Any], Any]) -> Encoder:
    """The mapping's ``interpret_encode`` as one generated function ``encode(record, item_codes) -> tree``.

    ``identity`` is the codecs' identity encoder, written as no call at all.
    """
    src = Source()
    src.env.update(_unknown_item=_unknown_item)
    src.add(0, "def encode(record, item_codes):")
    src.add(1, "tree = {}")
    for f in mapping.fields:
        if f.is_list:
            _list(src, f, identity)
        else:
            _scalar(src, f, identity)
    src.add(1, "return tree")
    code = "\n".join(src.lines)
    namespace: dict[str, Any] = dict(src.env)
    exec(compile(code, f"<encoder {mapping.dialect}:{mapping.record_type}>", "exec"), namespace)  # noqa: S102
    encode: Encoder = namespace["encode"]
    encode.__source__ = code  # type: ignore[attr-defined]
    return encode
