"""Reading an HTTP ``Retry-After`` header value into seconds, without reading a clock.

RFC 9110 §10.2.3 allows either delay-seconds (``120``) or an HTTP-date
(``Fri, 31 Dec 2027 23:59:59 GMT``). The transport calls this when it maps a 429 or 503 to
:class:`~gateway.delivery.outcomes.Throttled` / :class:`~gateway.delivery.outcomes.ServerError`; ``now``
is passed in (Unix seconds) so the function stays pure. A value we cannot read is ``None`` ("the
platform said nothing usable"), never an exception: a malformed header must not turn a retryable
failure into a crash.
"""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["MAX_RETRY_AFTER", "parse_retry_after"]

MAX_RETRY_AFTER = 7 * 86400.0
"""Longer waits are cut to a week: a typo on the platform's side must not park a message for years."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, or ``None`` if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # a "-0000" zone parses naive; HTTP dates are always GMT (RFC 9110 §5.6.7)
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)
