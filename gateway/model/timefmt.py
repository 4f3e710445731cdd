"""Beijing time (UTC+08:00): the one zone every platform reasons in (README §8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["BEIJING", "beijing_midnight", "from_epoch_ms", "to_epoch_ms"]

BEIJING = timezone(timedelta(hours=8), "UTC+08:00")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(ms: int) -> datetime:
    """The instant ``ms`` milliseconds after the Unix epoch, in Beijing time (never the server's zone)."""
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(BEIJING)


def to_epoch_ms(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def beijing_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)
