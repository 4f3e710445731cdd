"""Delivery workers: claim due outbox messages, deliver each freshly signed, record what happened.

The worker only claims, sends and records; what follows an attempt is decided by ``gateway.delivery`` in pure
code (``next_action``: done, retry at a time, dead letter). Per attempt: the destination's circuit breaker may
postpone it without sending; otherwise a few short in-process retries (tenacity) run for transient failures, each
a newly rendered and signed request with the message's stable id (the receiver deduplicates: README §9). Longer
retries are scheduled in the outbox, so they survive restarts; a lease makes sure two instances never deliver one
message at the same time. Concurrency is bounded per destination.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.delivery import (
    BreakerRegistry,
    DeadLetter,
    Delivered,
    DeliveryError,
    Done,
    PermanentRefusal,
    RetryAt,
    RetryPolicy,
    next_action,
    send_with_short_retries,
)
from gateway.errors import Rejection
from gateway.model import canonical_json
from gateway.store.api import OutboundMessage, Store
from gateway.wire.base import PlatformClient

__all__ = ["DeliveryWorker", "WorkerSettings"]

log = logging.getLogger("gateway.delivery")
BREAKER_OPEN = "BREAKER_OPEN"


class WorkerSettings:
    """How hard one worker pushes: messages per claim, lease length, in-flight messages per destination."""

    def __init__(self, *, batch: int = 64, lease_seconds: float = 120.0, per_destination: int = 8,
                 poll_interval: float = 0.5) -> None:
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.per_destination = per_destination
        self.poll_interval = poll_interval


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        clients: Mapping[str, PlatformClient],
        *,
        owner: str,
        clock: Callable[[], float],
        policies: Mapping[str, RetryPolicy] | None = None,
        default_policy: RetryPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        settings: WorkerSettings | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_outcome: Callable[[OutboundMessage, Any], None] | None = None,
    ) -> None:
        self.store = store
        self.clients = dict(clients)
        self.owner = owner
        self.clock = clock
        self.policies = dict(policies or {})
        self.default_policy = default_policy or RetryPolicy()
        self.breakers = breakers or BreakerRegistry(clock=clock)
        self.settings = settings or WorkerSettings()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.on_outcome = on_outcome  # metrics hook: (message, action)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._in_flight: set[asyncio.Task[None]] = set()

    def kick(self, destinations: object = None) -> None:
        """New work was committed: look for it now instead of at the next poll."""
        self._wake.set()

    def policy(self, destination: str) -> RetryPolicy:
        return self.policies.get(destination, self.default_policy)

    async def run(self) -> None:
        """Deliver until ``stop``; between empty claims, wait for a kick or the poll interval."""
        while not self._stopping.is_set():
            claimed = await self.run_once()
            if claimed == 0:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.settings.poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()

    async def stop(self) -> None:
        """Stop claiming and let the messages in flight finish (their outcomes are recorded)."""
        self._stopping.set()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run_once(self) -> int:
        """Claim one batch of due messages and start delivering them; return how many were claimed."""
        free = self.settings.batch - len(self._in_flight)
        if free <= 0:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        claimed = await self.store.claim_due(self.clock(), free, self.owner, self.settings.lease_seconds)
        for message in claimed:
            task = asyncio.create_task(self._limited(message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def drain(self) -> None:
        """Deliver everything due now and wait for it (tests and the demo)."""
        while await self.run_once():
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _limited(self, message: OutboundMessage) -> None:
        limit = self._limits.get(message.destination)
        if limit is None:
            limit = self._limits[message.destination] = asyncio.Semaphore(self.settings.per_destination)
        async with limit:
            try:
                await self.deliver(message)
            except Exception:  # a bug must not kill the worker; the lease expires and the message comes back
                log.exception("delivery of an outbox message failed unexpectedly",
                              extra={"destination": message.destination, "outbox_id": message.id})

    async def deliver(self, message: OutboundMessage) -> None:
        """One attempt for one claimed message, and its recorded outcome."""
        breaker = self.breakers.get(message.destination)
        if not breaker.allow():
            when = breaker.retry_at() or self.clock() + 1.0
            await self.store.schedule_retry(message.id, self.owner, when, BREAKER_OPEN,
                                            "destination circuit open; not sent")
            return
        client = self.clients.get(message.destination)
        policy = self.policy(message.destination)
        outcome: Delivered[object] | DeliveryError
        if client is None:
            outcome = PermanentRefusal("UNKNOWN_DESTINATION", "no client is configured for this destination")
        else:
            record = canonical_json.loads(message.kind, message.payload)

            async def send() -> object:
                accepted = await client.submit(message.kind, record, message.message_id)
                return accepted.receipt_no

            try:
                outcome = Delivered(await send_with_short_retries(send, policy, self.sleep, rng=self.rng))
            except DeliveryError as exc:
                outcome = exc
            except Rejection as exc:  # the client could not even build the request (e.g. a type not carried)
                outcome = PermanentRefusal(exc.code.value, exc.detail, where=exc.where)
        breaker.record(outcome)
        now = self.clock()
        action = next_action(policy, max(message.attempts, 1), message.created_at, now, outcome, rng=self.rng)
        if isinstance(action, Done):
            await self.store.mark_delivered(message.id, self.owner, str(action.receipt).encode("utf-8"), now)
        elif isinstance(action, RetryAt):
            await self.store.schedule_retry(message.id, self.owner, action.when, action.kind.value,
                                            f"transient failure ({action.kind.value})")
        elif isinstance(action, DeadLetter):
            detail = action.reason if action.where is None else f"{action.reason} at {action.where}"
            await self.store.dead_letter(message.id, self.owner, action.code, detail)
        if self.on_outcome is not None:
            self.on_outcome(message, action)
