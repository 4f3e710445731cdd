"""Delivery: what happens to an outbox message after each attempt, decided in pure code.

The worker's loop, for one claimed message (the worker and the transport live elsewhere)::

    breaker = breakers.get(destination)
    if not breaker.allow():
        postpone to breaker.retry_at()            # not an attempt: nothing was sent
    try:
        receipt = await send_with_short_retries(lambda: transport.send(fresh_signed_request()), policy)
        outcome = Delivered(receipt)
    except (DeliveryError, Refusal) as exc:   # a Refusal (gateway.errors) says who refused: peer or ours
        outcome = exc
    breaker.record(outcome)
    action = next_action(policy, attempts, first_attempt_at, now, outcome, rng=rng)
    # Done -> mark done; RetryAt(when) -> store next attempt time; DeadLetter(code, ...) -> dead letters

Modules: :mod:`.outcomes` (the exception tree a transport raises), :mod:`.backoff` (the jitter
formula), :mod:`.policy` (``RetryPolicy`` and ``next_action``), :mod:`.breaker` (per-destination
circuit breakers), :mod:`.retrying` (tenacity-based short retries), :mod:`.retry_after` (the header,
for transports), :mod:`.settings` (config errors), :mod:`.ordering` (which messages keep an order, and their place).
This package imports no HTTP client.
"""

from gateway.delivery.backoff import Backoff, RandomSource
from gateway.delivery.breaker import BreakerRegistry, BreakerSettings, BreakerState, CircuitBreaker, Clock
from gateway.delivery.ordering import OrderPlace, order_of
from gateway.delivery.outcomes import (
    ConnectionFailed,
    Delivered,
    DeliveryError,
    DeliveryTimeout,
    ServerError,
    Throttled,
    TransientDeliveryError,
    TransientKind,
    Undeliverable,
)
from gateway.delivery.policy import (
    DELIVERY_ATTEMPTS_EXHAUSTED,
    DELIVERY_EXPIRED,
    REFUSED_BY,
    Action,
    DeadLetter,
    Done,
    RetryAt,
    RetryPolicy,
    expired,
    expiry,
    expiry_cutoff,
    next_action,
)
from gateway.delivery.retry_after import MAX_RETRY_AFTER, parse_retry_after
from gateway.delivery.retrying import send_with_short_retries
from gateway.delivery.settings import DeliveryConfigError

__all__ = [
    "DELIVERY_ATTEMPTS_EXHAUSTED",
    "DELIVERY_EXPIRED",
    "MAX_RETRY_AFTER",
    "REFUSED_BY",
    "Action",
    "Backoff",
    "BreakerRegistry",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "Clock",
    "ConnectionFailed",
    "DeadLetter",
    "Delivered",
    "DeliveryConfigError",
    "DeliveryError",
    "DeliveryTimeout",
    "Done",
    "OrderPlace",
    "RandomSource",
    "RetryAt",
    "RetryPolicy",
    "ServerError",
    "Throttled",
    "TransientDeliveryError",
    "TransientKind",
    "Undeliverable",
    "expired",
    "expiry",
    "expiry_cutoff",
    "next_action",
    "order_of",
    "parse_retry_after",
    "send_with_short_retries",
]
