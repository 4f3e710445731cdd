"""A few in-process retries within one delivery attempt, carried out by tenacity.

A connection reset or a single 503 should not cost an outbox round trip of minutes, so one attempt
may try ``policy.short_attempts`` times, waiting a second or so in between. Anything longer belongs to
the durable outbox (:func:`gateway.delivery.policy.next_action`). tenacity is the engine; this module
only contributes three tiny strategies and wires them together:

- retry only on :class:`~gateway.delivery.outcomes.TransientDeliveryError` (the *type* decides;
  a :class:`~gateway.errors.Refusal` or an :class:`~gateway.delivery.outcomes.Undeliverable` is re-raised
  at once);
- wait :class:`wait_backoff` (the same jitter formula as the outbox, :mod:`gateway.delivery.backoff`,
  with an injectable random source, which tenacity's ``wait_exponential_jitter`` lacks), raised to
  the platform's Retry-After by :class:`wait_retry_after_floor`;
- stop after ``policy.short_attempts`` tries, or at once when Retry-After is longer than
  ``policy.short_max_wait`` (:class:`stop_if_retry_after_exceeds`): the outbox then schedules the wait
  instead of a coroutine sleeping for minutes;
- ``reraise=True``: the caller sees the last real error, with its ``retry_after``, not a RetryError.

The first try runs before tenacity is set up; only a transient failure hands the attempt to tenacity, which is
told that failure as its own first try (nothing is sent twice), so its stop, wait and ``on_retry`` decisions are
exactly those it makes from the start.

**The callable must build a fresh signed request every time it is called.** Signatures carry a
timestamp and a nonce (README §10 ``REPLAYED``); re-sending the bytes of a failed try would be refused
as a replay. So pass ``lambda: transport.send(sign(build(record)))``-like callables, not a prepared
request.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from gateway.delivery.backoff import Backoff, RandomSource
from gateway.delivery.outcomes import TransientDeliveryError
from gateway.delivery.policy import RetryPolicy

__all__ = [
    "OnRetry",
    "send_with_short_retries",
    "stop_if_retry_after_exceeds",
    "wait_backoff",
    "wait_retry_after_floor",
]

T = TypeVar("T")

OnRetry = Callable[[TransientDeliveryError, float], None]
"""Called before each wait with the failure and the seconds about to be slept (metrics, logs)."""


def _transient(retry_state: RetryCallState) -> TransientDeliveryError | None:
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc if isinstance(exc, TransientDeliveryError) else None


class wait_backoff(wait_base):
    """Wait ``backoff.delay(n)`` after the ``n``-th failed try, drawing jitter from ``rng``."""

    def __init__(self, backoff: Backoff, rng: RandomSource) -> None:
        self.backoff = backoff
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.backoff.delay(retry_state.attempt_number, self.rng)


class wait_retry_after_floor(wait_base):
    """Wait at least the platform's Retry-After, otherwise what ``inner`` says."""

    def __init__(self, inner: wait_base) -> None:
        self.inner = inner

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = self.inner(retry_state)
        exc = _transient(retry_state)
        if exc is not None and exc.retry_after is not None:
            return max(delay, exc.retry_after)
        return delay


class stop_if_retry_after_exceeds(stop_base):
    """Stop when the platform asks for a longer pause than an in-process wait should be."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _transient(retry_state)
        return exc is not None and exc.retry_after is not None and exc.retry_after > self.limit


async def send_with_short_retries(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    *,
    rng: RandomSource | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """Call ``send`` until it returns, retrying transient failures a few times within this attempt.

    ``send`` must build and sign a fresh request on every call (see the module docstring).
    ``sleep`` and ``rng`` are injectable so tests neither wait nor depend on chance.
    Raises the last :class:`~gateway.delivery.outcomes.DeliveryError` (or anything else ``send``
    raised, unretried) when the attempt as a whole failed.
    """
    try:  # the first try outside tenacity: most deliveries succeed at once, and tenacity's set-up and bookkeeping
        return await send()  # per call were ~2-3 % of the event loop's time in the drain (issue 15 session 5)
    except TransientDeliveryError as exc:
        first_failure: TransientDeliveryError | None = exc

    async def tries() -> T:
        """Tenacity's first try is the failure above, told again (the request is not sent twice); then real ones."""
        nonlocal first_failure
        if first_failure is not None:
            failure, first_failure = first_failure, None
            raise failure
        return await send()

    source: RandomSource = rng if rng is not None else random.Random()

    def before_sleep(retry_state: RetryCallState) -> None:
        exc = _transient(retry_state)
        if on_retry is not None and exc is not None and retry_state.next_action is not None:
            on_retry(exc, retry_state.next_action.sleep)

    retrying = AsyncRetrying(
        sleep=sleep,
        retry=retry_if_exception_type(TransientDeliveryError),
        wait=wait_retry_after_floor(wait_backoff(policy.short_backoff, source)),
        stop=stop_after_attempt(policy.short_attempts) | stop_if_retry_after_exceeds(policy.short_max_wait),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(tries)
