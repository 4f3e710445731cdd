"""Reading the declarative mapping files: one mapping file joined with ``reference.toml`` into a ``RecordMapping``.

Why apart from the engine: the engine decodes and encodes at run time; this module runs once per dialect at start
and owns every configuration error a mapping file can earn (an unknown reference field, a list entry before its
list, a rule naming no field), each naming the file and the key to fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

from .codecs import build_codec
from .engine import FieldMapping, MappingContext, RecordMapping

__all__ = ["compile_mapping", "load_reference"]

HERE = Path(__file__).resolve().parent


def load_reference(path: Path = HERE / "reference.toml") -> dict[str, dict[str, dict[str, Any]]]:
    with path.open("rb") as fh:
        data: dict[str, dict[str, dict[str, Any]]] = tomllib.load(fh)
    return data


def compile_mapping(
    path: Path,
    ctx: MappingContext,
    reference: Mapping[str, Mapping[str, Mapping[str, Any]]],
    dialect_settings: Mapping[str, Any],
) -> RecordMapping:
    """Read one mapping file and join it with the reference fields and the dialect's wire settings."""
    with path.open("rb") as fh:
        spec = tomllib.load(fh)
    source = str(path)
    record_type = str(spec.get("record"))
    if record_type not in reference:
        raise ConfigError(source, "record", f"{record_type!r} is not a record type", f"use one of {sorted(reference)}")
    refs = reference[record_type]
    sep = "/" if dialect_settings.get("syntax") == "xml" else "."
    root = spec.get("root", "")
    rows = spec.get("field", [])
    compiled: list[FieldMapping] = []
    lists: dict[str, FieldMapping] = {}
    for i, row in enumerate(rows):
        key = f"field[{i}]"
        ref_name = row.get("ref")
        if ref_name not in refs:
            raise ConfigError(source, f"{key}.ref", f"{ref_name!r} is not a reference field of {record_type}")
        ref_spec = {**refs[ref_name], **{k: v for k, v in row.items() if k in ("format", "max")}}
        wire_path: str = row["path"]
        where = (root + sep + wire_path) if root else wire_path
        if "[]" in ref_name:
            parent_ref = ref_name.split("[]")[0]
            parent = lists.get(parent_ref)
            if parent is None:
                raise ConfigError(source, f"{key}.ref", f"{ref_name!r} comes before its list {parent_ref!r}")
            entry_path = wire_path.split("[]", 1)[1].lstrip(sep)
            sub_ref = ref_name.split("[]", 1)[1].lstrip(".")
            sub = _compile_field(
                source,
                key,
                row,
                ref_spec,
                ctx,
                dialect_settings,
                path=tuple(entry_path.split(sep)) if entry_path else (),
                where=where,
                ref=tuple(sub_ref.split(".")) if sub_ref else (),
            )
            parent.entry_fields.append(sub)
            parent.scalar_entries = not entry_path
            if parent.scalar_entries:
                sub.key = ""  # a list of strings: each entry is read as {"": value}
            continue
        fm = _compile_field(
            source,
            key,
            row,
            ref_spec,
            ctx,
            dialect_settings,
            path=tuple(wire_path.split(sep)),
            where=where,
            ref=tuple(ref_name.split(".")),
        )
        if fm.is_list:
            lists[ref_name] = fm
        compiled.append(fm)
    rules = spec.get("rule", [])
    for i, rule in enumerate(rules):
        for name in [rule.get("field"), *([rule["of"]] if isinstance(rule.get("of"), str) else rule.get("of", []))]:
            if name not in {sep.join(f.path) for f in compiled}:
                raise ConfigError(source, f"rule[{i}]", f"{name!r} is not a field path of this mapping")
    return RecordMapping(str(spec.get("dialect", "")), record_type, root, sep, compiled, rules)


def _compile_field(
    source: str,
    key: str,
    row: Mapping[str, Any],
    ref_spec: Mapping[str, Any],
    ctx: MappingContext,
    settings: Mapping[str, Any],
    *,
    path: tuple[str, ...],
    where: str,
    ref: tuple[str, ...],
) -> FieldMapping:
    kind = ref_spec["format"]
    required_spec = ref_spec.get("required", False)
    group = ref[0] if required_spec == "group" else None
    role = row.get("role", "value")
    derive = tuple(tuple(d.split(".")) for d in row.get("derive", ()))
    if kind == "list":
        entries = ref_spec.get("entries", {})
        return FieldMapping(
            path=path,
            where=where,
            ref=ref,
            required=bool(required_spec),
            group=group,
            decode=_no_decode,
            encode=_no_decode,
            is_list=True,
            max_entries=entries.get("max"),
            min_entries=entries.get("min", 0),
        )
    decode, encode = build_codec(source, key, kind, ref_spec, row, ctx, settings)
    return FieldMapping(
        path=path,
        where=where,
        ref=ref,
        required=required_spec is True,
        group=group,
        decode=decode,
        encode=encode,
        role=role,
        derive=derive,
        item_field=kind == "item" and role == "value",
        group_required=group is not None,
        needs_out=kind == "id_number",
    )


def _no_decode(value: Any, out: dict[str, Any] | None = None) -> Any:
    return value
