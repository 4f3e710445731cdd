"""The exception tree: retryable vs permanent is a type, and no detail leaks into text."""

from __future__ import annotations

import math

import pytest

from gateway.delivery import (
    ConnectionFailed,
    DeliveryError,
    DeliveryTimeout,
    ServerError,
    Throttled,
    TransientDeliveryError,
    TransientKind,
    Undeliverable,
)
from gateway.errors import Refusal, Side


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (ConnectionFailed, TransientKind.CONNECTION),
        (DeliveryTimeout, TransientKind.TIMEOUT),
        (ServerError, TransientKind.SERVER_ERROR),
        (Throttled, TransientKind.THROTTLED),
    ],
)
def test_transient_kinds_are_types_under_one_base(
    cls: type[TransientDeliveryError], kind: TransientKind
) -> None:
    exc = cls("HTTP 503", retry_after=2.5)
    assert isinstance(exc, TransientDeliveryError)
    assert isinstance(exc, DeliveryError)
    assert not isinstance(exc, Refusal)
    assert exc.kind is kind
    assert exc.retry_after == 2.5
    assert kind.value in str(exc)
    assert "2.5s" in str(exc)


def test_refusal_is_not_transient_and_keeps_detail_out_of_text() -> None:
    detail = "申请人证件号码 110101199003074518 校验位错误"
    exc = Refusal("ID_CHECKSUM", "APPLY_CARDNUMBER", detail, side=Side.PEER)
    assert not isinstance(exc, DeliveryError)
    assert "110101199003074518" not in str(exc.to_problem())
    assert exc.detail == detail
    for text in (str(exc), repr(exc)):
        assert "ID_CHECKSUM" in text
        assert "APPLY_CARDNUMBER" in text
        assert "110101199003074518" not in text


def test_refusal_needs_a_readme_code_and_undeliverable_a_dead_letter_code() -> None:
    with pytest.raises(ValueError, match="RejectionCode"):
        Refusal("")
    with pytest.raises(ValueError, match="dead-letter code"):
        Undeliverable("", "no client")


def test_undeliverable_is_permanent_and_names_its_code() -> None:
    exc = Undeliverable("UNKNOWN_DESTINATION", "no client is configured for this destination")
    assert isinstance(exc, DeliveryError)
    assert not isinstance(exc, TransientDeliveryError | Refusal)
    assert "UNKNOWN_DESTINATION" in str(exc) and "UNKNOWN_DESTINATION" in repr(exc)


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_retry_after_must_be_a_real_non_negative_number(bad: float) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        Throttled("HTTP 429", retry_after=bad)
