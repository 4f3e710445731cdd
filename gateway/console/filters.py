"""The console's query parameters, parsed once into typed values: a bad one is a ``BAD_QUERY`` refusal naming the
parameter, never a 500 and never an echo of the value (it may be anything a browser was made to send).

Times are entered and shown in Beijing time (README §8), as the HTML ``datetime-local`` control sends them
(``2026-12-01T09:30``, seconds optional).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Final

from gateway.model.timefmt import BEIJING
from gateway.store.api import STATES, OutboxQuery

from .security import ConsoleRefusal

__all__ = ["CODE", "beijing_input", "choice", "code", "outbox_query", "time_bound"]

CODE: Final = re.compile(r"[A-Z][A-Z0-9_]{0,63}")  # the stable refusal codes (README §10) and transient kinds
_LOCAL: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def choice(query: Mapping[str, str], name: str, allowed: Collection[str]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in allowed:
        raise ConsoleRefusal(400, "BAD_QUERY", f"{name} must be one of the listed values")
    return value


def code(query: Mapping[str, str], name: str = "code") -> str | None:
    value = (query.get(name) or "").strip() or None
    if value is not None and not CODE.fullmatch(value):
        raise ConsoleRefusal(400, "BAD_QUERY", f"{name} is a stable code such as SCHEMA_INVALID")
    return value


def time_bound(query: Mapping[str, str], name: str) -> float | None:
    """A ``datetime-local`` value in Beijing time as Unix seconds; None when empty."""
    value = (query.get(name) or "").strip()
    if not value:
        return None
    if not _LOCAL.fullmatch(value):
        raise ConsoleRefusal(400, "BAD_QUERY", f"{name} is a time such as 2026-12-01T09:30 (Beijing time)")
    try:
        return datetime.fromisoformat(value).replace(tzinfo=BEIJING).timestamp()
    except ValueError as exc:
        raise ConsoleRefusal(400, "BAD_QUERY", f"{name} is not a valid time") from exc


def beijing_input(seconds: float | None) -> str:
    """Unix seconds as the ``datetime-local`` value of a filter field (empty for None)."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, BEIJING).strftime("%Y-%m-%dT%H:%M")


def outbox_query(query: Mapping[str, str], platforms: Collection[str], limit: int) -> OutboxQuery:
    """The outbox filters of the console's list page (state, destination, source, code, from, to)."""
    created_from, created_to = time_bound(query, "from"), time_bound(query, "to")
    if created_from is not None and created_to is not None and created_to <= created_from:
        raise ConsoleRefusal(400, "BAD_QUERY", "to must be later than from")
    return OutboxQuery(
        state=choice(query, "state", STATES),
        destination=choice(query, "destination", platforms),
        source=choice(query, "source", platforms),
        code=code(query),
        created_from=created_from,
        created_to=created_to,
        limit=limit,
    )
