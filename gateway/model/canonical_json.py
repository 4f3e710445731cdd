"""Canonical records as JSON and back: how a record waits in the outbox.

The outbox keeps the canonical record, not the wire bytes, because every delivery attempt renders a fresh envelope
(g60 ``SentAt``, zlb ``requestTime``, shanghai ``AuthHeader``) and a fresh signature. Times are ISO 8601 with their
+08:00 offset, dates ``yyyy-MM-dd``, lists arrays; absent optionals are left out. ``loads`` rebuilds exactly the
record ``dumps`` was given.
"""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from .records import MAPPED_TYPES, RECORD_TYPES, builder, to_ref

__all__ = ["dumps", "loads"]


def _default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: made once: ``json.dumps`` with any option builds a new encoder (and its C scanner) on every call
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def dumps(record: Any) -> bytes:
    return _ENCODER.encode(to_ref(record)).encode("utf-8")


_CONVERTERS: dict[type, dict[str, Any]] = {}


def _converters(cls: type) -> dict[str, Any]:
    """Field name → how to rebuild its value from JSON (datetimes, dates, nested records), once per class."""
    found = _CONVERTERS.get(cls)
    if found is not None:
        return found
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    nested: dict[str, tuple[type, bool]] = getattr(cls, "nested", {})
    for f in fields(cls):
        hint = hints[f.name]
        args = set(typing.get_args(hint)) | {hint}
        if f.name in nested:
            sub, is_list = nested[f.name]
            if sub is not str:
                out[f.name] = ("list" if is_list else "one", sub)
        elif datetime in args:
            out[f.name] = ("datetime", None)
        elif date in args:
            out[f.name] = ("date", None)
    _CONVERTERS[cls] = out
    return out


def _revive(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    for name, (how, sub) in _converters(cls).items():
        raw = values.get(name)
        if raw is None:
            continue
        if how == "datetime":
            values[name] = datetime.fromisoformat(raw)
        elif how == "date":
            values[name] = date.fromisoformat(raw)
        elif how == "one":
            values[name] = _revive(sub, raw)
        else:
            values[name] = [_revive(sub, v) for v in raw]
    return values


def loads(record_type: str, data: bytes) -> Any:
    """The record of ``record_type`` that ``dumps`` wrote."""
    cls = RECORD_TYPES.get(record_type) or MAPPED_TYPES[record_type]
    return builder(cls)(_revive(cls, json.loads(data)))
