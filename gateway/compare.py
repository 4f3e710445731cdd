"""README §9: whether two messages carry "the same record", and where they differ.

Both messages are decoded by their own dialect's adapter and compared as reference records: codes as reference
values, items as 基本编码, times as instants, list order significant. Envelope fields never enter the comparison
because the adapters do not map them to reference fields.
"""

from __future__ import annotations

from typing import Any

from gateway.model.records import to_ref
from gateway.registry import Registry

__all__ = ["business_diff", "same_record"]


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        out[prefix + ".#"] = len(value)
        for i, sub in enumerate(value):
            _flatten(sub, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def business_diff(a: Any, b: Any) -> dict[str, tuple[Any, Any]]:
    """Reference fields whose values differ between two canonical records: path → (a's value, b's value)."""
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    _flatten(to_ref(a), "", fa)
    _flatten(to_ref(b), "", fb)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)}


def same_record(
    registry: Registry, record_type: str, first: tuple[str, bytes], second: tuple[str, bytes]
) -> dict[str, tuple[Any, Any]]:
    """Decode ``(dialect, bytes)`` twice and return their business differences (empty: the same record)."""
    a = registry.adapter(first[0]).decode(record_type, first[1])
    b = registry.adapter(second[0]).decode(record_type, second[1])
    return business_diff(a, b)
