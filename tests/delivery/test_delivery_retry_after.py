"""Retry-After values: delay-seconds, HTTP-dates relative to a fake now, and junk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.delivery import MAX_RETRY_AFTER, parse_retry_after

NOW = datetime(2027, 12, 31, 23, 58, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Fri, 31 Dec 2027 23:59:59 GMT", 119.0),
        ("Fri, 31 Dec 2027 23:59:59 -0000", 119.0),
        ("Fri, 31 Dec 2027 23:00:00 GMT", 0.0),  # in the past: retry now
        ("99999999999", MAX_RETRY_AFTER),
    ],
)
def test_readable_values(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "١٢", "Mon, 99 Foo 2020 00:00:00 GMT"])
def test_unreadable_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None
