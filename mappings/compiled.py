"""Compile a record mapping's field table into one Python function (the decoding hot path).

The interpreter in ``engine.py`` defines what decoding means; this module turns the same compiled field table into
straight-line Python source, once per mapping, the way ``dataclasses`` writes ``__init__``: one block per field, in
table order, with the field's decoder bound by name. It removes the per-field dispatch (attribute loads, a function
call, list-entry path strings) and nothing else: every check, its order and its error path are those of
``engine._decode_field`` and ``RecordMapping._decode_list``, which the property tests compare against.

Editing rules: generated code may only call the field's own decoder and the helpers passed in ``env``; the source
is kept on the function (``__source__``) for debugging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

from . import formats as fmt

if TYPE_CHECKING:
    from .engine import FieldMapping, RecordMapping

__all__ = ["compile_decoder"]


def _missing(where: str) -> Refusal:
    return Refusal(C.MISSING_FIELD, where, "required field is absent or empty")


def _wrong(where: str) -> Refusal:
    return Refusal(C.BAD_FORMAT, where, "wrong type")


def _failed(where: str, fail: fmt.Fail) -> Refusal:
    return Refusal(fail.code, where, fmt.DETAIL.get(fail.code, ""))


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


def _store(src: Source, indent: int, target: str, ref: tuple[str, ...], value: str) -> None:
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


def _field(src: Source, indent: int, f: FieldMapping, tree: str, out: str, where: str) -> None:
    """One field's checks (README §10 step 8), as ``engine._decode_field`` runs them."""
    dec = src.bind(f.decode, "d")
    if f.key is not None:
        src.add(indent, f"raw = {tree}.get({f.key!r}, ABSENT)")
        src.add(indent, "if raw is None or raw == '':")
        src.add(indent + 1, "raw = ABSENT")
    elif len(f.path) == 2 and f.path[0][0] != "*" and f.path[1][0] != "*":
        # two steps (Applicant/Name, applicant.name): inline, as ``_get`` would walk them
        src.add(indent, f"node = {tree}.get({f.path[0]!r}, ABSENT)")
        src.add(indent, "if type(node) is dict:")
        src.add(indent + 1, f"raw = node.get({f.path[1]!r}, ABSENT)")
        src.add(indent + 1, "if raw is None or raw == '':")
        src.add(indent + 2, "raw = ABSENT")
        src.add(indent, "elif node is ABSENT or node is None or node == '':")
        src.add(indent + 1, "raw = ABSENT")
        src.add(indent, "else:")
        src.add(indent + 1, "raw = WRONG")
    else:
        src.add(indent, f"raw = _get({tree}, {src.bind(f.path, 'p')})")
    src.add(indent, "if raw is ABSENT:")
    if f.required or f.group_required:
        src.add(indent + 1, f"raise _missing({where})")
    else:
        src.add(indent + 1, "pass")
    src.add(indent, "else:")
    src.add(indent + 1, "if raw is WRONG or raw is COMPLEX:")
    src.add(indent + 2, f"raise _wrong({where})")
    src.add(indent + 1, "try:")
    src.add(indent + 2, f"val = {dec}(raw, {out})" if f.needs_out else f"val = {dec}(raw)")
    src.add(indent + 1, "except Fail as fail:")
    src.add(indent + 2, f"raise _failed({where}, fail) from None")
    if f.role == "value" and f.ref:
        _store(src, indent + 1, out, f.ref, "val")


def _list(src: Source, indent: int, f: FieldMapping, mapping: RecordMapping) -> None:
    """A list field: presence and type at its turn, then its entries one by one (``RecordMapping._decode_list``)."""
    fm = src.bind(f, "f")
    src.add(indent, f"raw = _get(tree, {fm}.path, {mapping.xml})")
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
        src.add(indent + 2, "box = {'': entry}")
        src.add(indent + 2, "val = ABSENT")
        _field(src, indent + 2, sub, "box", "out", where)
        src.add(indent + 2, "entries.append(val)")
    else:
        src.add(indent + 2, "if type(entry) is not dict:")
        src.add(indent + 3, f"raise Refusal(BAD, {fm}.where_at(i, {sep}, None), 'an object is required')")
        src.add(indent + 2, "eo = {}")
        for sub in f.entry_fields:
            where = f"{fm}.where_at(i, {sep}, {src.bind(sub, 's')})"
            _field(src, indent + 2, sub, "entry", "eo", where)
        src.add(indent + 2, "entries.append(eo)")
    _store(src, indent + 1, "out", f.ref, "entries")


def compile_decoder(mapping: RecordMapping, get: Callable[..., Any], markers: dict[str, Any]) -> Callable[[Any], Any]:
    """The mapping's ``decode_values`` as one generated function ``decode(tree) -> dict``."""
    src = Source()
    src.env.update(markers)
    src.env.update(
        _get=get,
        _missing=_missing,
        _wrong=_wrong,
        _failed=_failed,
        Fail=fmt.Fail,
        Refusal=Refusal,
        BAD=C.BAD_FORMAT,
        MISSING=C.MISSING_FIELD,
        TOO_MANY=C.TOO_MANY_ENTRIES,
    )
    src.add(0, "def decode(tree):")
    for f in mapping.fields:  # step 7: entry counts before any field
        if f.is_list and f.max_entries is not None:
            fm = src.bind(f, "f")
            src.add(1, f"raw = _get(tree, {fm}.path, {mapping.xml})")
            src.add(1, f"if type(raw) is list and len(raw) > {f.max_entries}:")
            src.add(2, f"raise Refusal(TOO_MANY, {fm}.where, 'more than {f.max_entries} entries')")
    groups = sorted({f.group for f in mapping.fields if f.group})
    for g in groups:
        paths = [src.bind(f.path, "p") for f in mapping.fields if f.group == g]
        src.add(1, f"g_{g} = " + " or ".join(f"_get(tree, {p}) is not ABSENT" for p in paths))
    src.add(1, "out = {}")
    for f in mapping.fields:
        indent = 1
        if f.group is not None:
            src.add(1, f"if g_{f.group}:")
            indent = 2
        if f.is_list:
            _list(src, indent, f, mapping)
        else:
            _field(src, indent, f, "tree", "out", repr(f.where))
    src.add(1, "return out")
    code = "\n".join(src.lines)
    namespace: dict[str, Any] = dict(src.env)
    exec(compile(code, f"<mapping {mapping.dialect}:{mapping.record_type}>", "exec"), namespace)  # noqa: S102
    decode: Callable[[Any], Any] = namespace["decode"]
    decode.__source__ = code  # type: ignore[attr-defined]
    return decode
