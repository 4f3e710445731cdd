"""The delivery decision: after an attempt, what happens to the outbox message next.

STYLE lesson 6: decide in pure code, execute in the worker. :func:`next_action` reads no clock, draws
no global randomness and does no I/O; the worker passes ``now`` and a random source, then carries the
answer out (mark done, store the next attempt time, or move the message to the dead letters).

The rules, in order:

1. :class:`~gateway.delivery.outcomes.Delivered` → :class:`Done`.
2. A :class:`~gateway.errors.Refusal` → :class:`DeadLetter` at once with its README §10 code; sending the
   same bytes again cannot help. The reason says who refused (``side``): "refused by the destination" only
   when the destination did, "refused by the gateway" when the gateway's own checks or encoder did.
   An :class:`~gateway.delivery.outcomes.Undeliverable` → :class:`DeadLetter` at once with its own code.
3. A transient failure after ``max_attempts`` attempts (when set) → dead letter
   ``DELIVERY_ATTEMPTS_EXHAUSTED``.
4. A transient failure when the message is ``max_age`` old or older → dead letter ``DELIVERY_EXPIRED``.
5. Otherwise → :class:`RetryAt` ``now + delay``, the delay from :class:`~gateway.delivery.backoff.Backoff`
   (documented jitter) raised to the platform's Retry-After when that is longer (a floor, never a cap:
   the platform knows when it will be back). A retry that would land after the message's deadline is
   moved *to* the deadline, so the last attempt happens just as the message expires; when Retry-After
   alone already lies beyond the deadline the message is dead now (``DELIVERY_EXPIRED``), since
   retrying earlier than the platform asked would only be refused again.

``attempts`` counts outbox attempts, including the one that just ended; the few short in-process retries
inside one attempt (:mod:`gateway.delivery.retrying`) count as that one attempt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gateway.delivery.backoff import Backoff, RandomSource
from gateway.delivery.outcomes import (
    Delivered,
    DeliveryError,
    TransientDeliveryError,
    TransientKind,
    Undeliverable,
)
from gateway.delivery.settings import (
    DeliveryConfigError,
    read_duration,
    read_int,
    read_number,
    read_optional_int,
    refuse_unknown_keys,
)
from gateway.errors import Refusal, Side

__all__ = [
    "DELIVERY_ATTEMPTS_EXHAUSTED",
    "DELIVERY_EXPIRED",
    "REFUSED_BY",
    "Action",
    "DeadLetter",
    "Done",
    "RetryAt",
    "RetryPolicy",
    "expired",
    "expiry",
    "expiry_cutoff",
    "next_action",
]

DELIVERY_EXPIRED: Final = "DELIVERY_EXPIRED"
"""Dead-letter code: transient failures went on for longer than the policy's ``max_age``."""

DELIVERY_ATTEMPTS_EXHAUSTED: Final = "DELIVERY_ATTEMPTS_EXHAUSTED"
"""Dead-letter code: the policy's ``max_attempts`` outbox attempts all failed transiently."""

#: The dead letter's reason for a refusal, by who refused (issue 13: an item the destination's crosswalk lacks is
#: the gateway's own encoder refusing, and must not read as the destination's answer).
REFUSED_BY: Final[Mapping[Side, str]] = {
    Side.PEER: "refused by the destination",
    Side.OURS: "refused by the gateway",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one destination. Durations are seconds.

    Outbox schedule: ``base_delay``, ``factor``, ``max_delay``, ``jitter`` (fraction, see
    :mod:`gateway.delivery.backoff`), ``max_age`` (from the first attempt until the message is dead),
    ``max_attempts`` (``None``: limited by age only).

    In-process retries within one attempt: ``short_attempts`` tries in all (1 = no short retry),
    waiting ``short_wait`` growing by ``factor`` up to ``short_max_wait``; a Retry-After longer than
    ``short_max_wait`` ends the short retries and leaves the wait to the outbox.
    """

    base_delay: float = 10.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.5
    max_age: float = 3 * 86400.0
    max_attempts: int | None = None
    short_attempts: int = 3
    short_wait: float = 0.5
    short_max_wait: float = 5.0

    def __post_init__(self) -> None:
        # Building both schedules validates base/factor/max/jitter; the rest is checked here.
        _ = (self.outbox_backoff, self.short_backoff)
        if not (math.isfinite(self.max_age) and self.max_age > 0):
            raise ValueError(f"max_age must be a finite number of seconds > 0, got {self.max_age!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 or None, got {self.max_attempts!r}")
        if self.short_attempts < 1:
            raise ValueError(
                f"short_attempts must be >= 1 (1 means no short retry), got {self.short_attempts!r}"
            )

    @property
    def outbox_backoff(self) -> Backoff:
        """The schedule between outbox attempts."""
        return Backoff(self.base_delay, self.factor, self.max_delay, self.jitter)

    @property
    def short_backoff(self) -> Backoff:
        """The schedule between in-process retries within one attempt."""
        return Backoff(self.short_wait, self.factor, self.short_max_wait, self.jitter)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, object],
        *,
        where: str = "delivery retry policy",
        defaults: RetryPolicy | None = None,
    ) -> RetryPolicy:
        """Read a policy from a config table; absent keys keep ``defaults`` (per-destination overrides).

        ``where`` names the source in errors, e.g. ``"gateway.toml [destinations.hefei.retry]"``.
        Raises :class:`~gateway.delivery.settings.DeliveryConfigError` naming the key and the value.
        """
        base = defaults if defaults is not None else cls()
        refuse_unknown_keys(data, _POLICY_KEYS, where=where)
        base_delay = read_duration(data, "base_delay", base.base_delay, where=where)
        max_delay = read_duration(data, "max_delay", base.max_delay, where=where)
        _require_order(data, "base_delay", base_delay, "max_delay", max_delay, where=where)
        short_wait = read_duration(data, "short_wait", base.short_wait, where=where)
        short_max_wait = read_duration(data, "short_max_wait", base.short_max_wait, where=where)
        _require_order(data, "short_wait", short_wait, "short_max_wait", short_max_wait, where=where)
        max_age = read_duration(data, "max_age", base.max_age, where=where, minimum=0.001)
        return cls(
            base_delay=base_delay,
            factor=read_number(data, "factor", base.factor, where=where, minimum=1.0),
            max_delay=max_delay,
            jitter=read_number(data, "jitter", base.jitter, where=where, minimum=0.0, maximum=1.0),
            max_age=max_age,
            max_attempts=read_optional_int(data, "max_attempts", base.max_attempts, where=where, minimum=1),
            short_attempts=read_int(data, "short_attempts", base.short_attempts, where=where, minimum=1),
            short_wait=short_wait,
            short_max_wait=short_max_wait,
        )


_POLICY_KEYS: Final = frozenset(RetryPolicy.__dataclass_fields__)


def _require_order(
    data: Mapping[str, object], low_key: str, low: float, high_key: str, high: float, *, where: str
) -> None:
    """Refuse ``high < low``, blaming the key the table actually set (the other may be a default)."""
    if high >= low:
        return
    if high_key in data:
        raise DeliveryConfigError(where, high_key, data[high_key], f"must be at least {low_key} ({low:g}s)")
    raise DeliveryConfigError(
        where, low_key, data.get(low_key, low), f"must be at most {high_key} ({high:g}s)"
    )


@dataclass(frozen=True, slots=True)
class Done:
    """Delivered: mark the message done and keep the receipt."""

    receipt: object


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``when`` (same clock as ``now``); ``kind`` says why, for metrics and logs."""

    when: float
    kind: TransientKind


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Give up: move the message to the dead letters with a stable ``code``.

    ``reason`` is our own data-free sentence; ``where`` and ``detail`` are what the platform said
    (detail kept out of ``repr`` since it may echo field values).
    """

    code: str
    reason: str
    where: str | None = None
    detail: str = field(default="", repr=False)


Action = Done | RetryAt | DeadLetter


def expiry_cutoff(policy: RetryPolicy, now: float) -> float:
    """Messages whose schedule started at or before this instant are past ``max_age`` at ``now``.

    Expiry is its own transition (``DELIVERY_EXPIRED``), applied by the worker to pending messages whatever the
    circuit breaker says: an open breaker attempts nothing, so an age check made only after a failed attempt would
    let messages outlive their deadline for as long as the destination stays down.
    """
    return now - policy.max_age


def expired(policy: RetryPolicy, started: float, now: float) -> bool:
    """Whether a message whose schedule began at ``started`` is past ``max_age`` at ``now`` (checked before a send)."""
    return started <= expiry_cutoff(policy, now)


def expiry(policy: RetryPolicy) -> DeadLetter:
    """The dead letter of a message that reached ``max_age`` unsent or undelivered."""
    return DeadLetter(DELIVERY_EXPIRED, f"not delivered within max_age {policy.max_age:g}s")


def next_action(
    policy: RetryPolicy,
    attempts: int,
    first_attempt_at: float,
    now: float,
    outcome: Delivered[object] | DeliveryError | Refusal,
    *,
    rng: RandomSource,
) -> Action:
    """Decide what follows an attempt; pure: the clock reading and the random source are parameters."""
    if attempts < 1:
        raise ValueError(f"attempts counts the attempt that just ended, so it is >= 1; got {attempts!r}")
    if isinstance(outcome, Delivered):
        return Done(outcome.receipt)
    if isinstance(outcome, Refusal):
        return DeadLetter(outcome.code.value, REFUSED_BY[outcome.side], outcome.where, outcome.detail)
    if isinstance(outcome, Undeliverable):
        return DeadLetter(outcome.code, outcome.reason)
    if not isinstance(outcome, TransientDeliveryError):
        # A bare DeliveryError (or a new subclass) is a programming error in a transport: fail loudly
        # instead of guessing whether it is safe to send again.
        raise TypeError(
            f"unclassified delivery outcome {type(outcome).__name__}; raise a transient, undeliverable or refusal type"
        )

    if policy.max_attempts is not None and attempts >= policy.max_attempts:
        return DeadLetter(
            DELIVERY_ATTEMPTS_EXHAUSTED,
            f"{attempts} attempts failed transiently, the last with {outcome.kind}",
        )
    deadline = first_attempt_at + policy.max_age
    if now >= deadline:
        return DeadLetter(
            DELIVERY_EXPIRED,
            f"transient failures for longer than max_age {policy.max_age:g}s, the last with {outcome.kind}",
        )
    floor = outcome.retry_after or 0.0
    if now + floor > deadline:
        return DeadLetter(
            DELIVERY_EXPIRED,
            f"the destination asked to wait {floor:g}s, past the message's max_age {policy.max_age:g}s",
        )
    delay = max(policy.outbox_backoff.delay(attempts, rng), floor)
    return RetryAt(min(now + delay, deadline), outcome.kind)
