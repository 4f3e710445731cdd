"""Reading delivery settings from a plain mapping (a TOML table, a dict) with errors that help.

Config is read once, at start-up, into frozen objects (STYLE lesson 9). When a value is wrong the
error names where it came from, the key, the value and what would be accepted, so an operator can
fix the file without reading this code.

Durations are seconds as a number (``30``, ``0.5``) or a string with a unit: ``"250ms"``, ``"30s"``,
``"5m"``, ``"2h"``, ``"3d"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Set

from gateway.errors import ConfigError

__all__ = [
    "DeliveryConfigError",
    "parse_duration",
    "read_duration",
    "read_int",
    "read_number",
    "read_optional_int",
    "refuse_unknown_keys",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")


class DeliveryConfigError(ConfigError, ValueError):
    """A delivery setting is missing, unknown or out of range; the text says where and how to fix it.

    A :class:`~gateway.errors.ConfigError` (the one root: a caller catching configuration errors catches this one)
    whose text keeps the ``key = value`` form the delivery tables are written in; ``where`` is also ``source``.
    """

    def __init__(self, where: str, key: str, value: object, problem: str) -> None:
        super().__init__(where, f"{key} = {value!r}", problem)
        self.where = where
        self.key = key
        self.value = value


def parse_duration(value: object) -> float | None:
    """Return ``value`` as seconds, or ``None`` when it is not a duration at all.

    Booleans are refused on purpose: in TOML ``true`` is never meant as "1 second".
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            return None
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def read_duration(
    data: Mapping[str, object], key: str, default: float, *, where: str, minimum: float = 0.0
) -> float:
    """Read a duration, falling back to ``default`` when the key is absent."""
    if key not in data:
        return default
    raw = data[key]
    seconds = parse_duration(raw)
    if seconds is None:
        raise DeliveryConfigError(
            where,
            key,
            raw,
            'expected seconds as a number (30, 0.5) or a string like "250ms", "30s", "5m", "2h"',
        )
    if seconds < minimum:
        raise DeliveryConfigError(where, key, raw, f"must be at least {minimum:g} seconds")
    return seconds


def read_number(
    data: Mapping[str, object],
    key: str,
    default: float,
    *,
    where: str,
    minimum: float,
    maximum: float = math.inf,
) -> float:
    """Read a plain finite number within ``[minimum, maximum]``."""
    if key not in data:
        return default
    raw = data[key]
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise DeliveryConfigError(where, key, raw, "expected a finite number")
    if not minimum <= raw <= maximum:
        bounds = f"at least {minimum:g}" if maximum == math.inf else f"between {minimum:g} and {maximum:g}"
        raise DeliveryConfigError(where, key, raw, f"must be {bounds}")
    return float(raw)


def read_int(data: Mapping[str, object], key: str, default: int, *, where: str, minimum: int) -> int:
    """Read a whole number >= ``minimum``."""
    value = read_optional_int(data, key, default, where=where, minimum=minimum, none_allowed=False)
    return default if value is None else value


def read_optional_int(
    data: Mapping[str, object],
    key: str,
    default: int | None,
    *,
    where: str,
    minimum: int,
    none_allowed: bool = True,
) -> int | None:
    """Read a whole number >= ``minimum``, where ``"none"`` (or an absent key with no default) is no limit."""
    if key not in data:
        return default
    raw = data[key]
    if none_allowed and (raw is None or raw == "none"):
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        hint = ' (or "none" for no limit)' if none_allowed else ""
        raise DeliveryConfigError(where, key, raw, f"expected a whole number{hint}")
    if raw < minimum:
        raise DeliveryConfigError(where, key, raw, f"must be at least {minimum}")
    return raw


def refuse_unknown_keys(data: Mapping[str, object], known: Set[str], *, where: str) -> None:
    """Refuse keys we do not know: a typo such as ``max_dealy`` must not silently keep the default."""
    for key in data:
        if key not in known:
            raise DeliveryConfigError(
                where, str(key), data[key], f"unknown key; known keys are {', '.join(sorted(known))}"
            )
