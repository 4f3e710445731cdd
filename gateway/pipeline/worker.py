"""Delivery workers: claim due outbox messages, deliver each freshly signed, record what happened.

The worker only claims, sends and records; what follows an attempt is decided by ``gateway.delivery`` in pure
code (``next_action``: done, retry at a time, dead letter). Per attempt: a few short in-process retries
(tenacity) run for transient failures, each a newly rendered and signed request with the message's stable id (the
receiver deduplicates: README §9). Longer retries are scheduled in the outbox, so they survive restarts; a lease
makes sure two instances never deliver one message at the same time.

Claims are made per destination, so one slow or broken destination never holds the leases others need:

- at most ``batch`` claimed messages per destination wait in this process, at most ``per_destination`` are being
  sent at once;
- a destination whose circuit breaker is open is not claimed from at all (its messages stay ``pending`` with their
  own next attempt time, no attempt is spent); half-open, exactly one message is claimed as the probe;
- a message whose lease is about to run out before it is sent is handed back unsent rather than risk a second
  instance delivering it at the same moment; once a send starts, its lease is renewed (owner-checked) every third
  of the lease length until the outcome is recorded, so a send that outlasts the lease is never sent again by
  another worker or instance meanwhile (the lease covers the attempt, however many short retries it takes);
- ordering is the store's: a message is claimed only after every earlier message of its case to its destination
  is finished (:mod:`gateway.store.transitions`), and recording an outcome of an ordered message claims its
  destination again at once, so the next event of the case does not wait for the poll;
- expiry is its own transition: on every full scan (at most once a second) each destination's messages past
  ``max_age`` are dead-lettered ``DELIVERY_EXPIRED`` whatever its breaker says, and a claimed message past it is
  dead-lettered unsent.

``stop`` stops claiming, waits for the sends in progress to finish and record their outcomes, and hands back the
claimed messages it never started, so a clean stop leaves no ``delivering`` message with a live lease. Given a
``grace``, it waits no longer than that: sends still running then (a platform that hangs, deliveries queued behind
a client's token lock) are cancelled, and everything this worker still holds is handed back in one owner-checked
store update (``release_claims``), due at once for the next instance rather than after the lease.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from gateway.delivery import (
    BreakerRegistry,
    BreakerState,
    Delivered,
    DeliveryError,
    Done,
    RetryAt,
    RetryPolicy,
    Undeliverable,
    expired,
    expiry,
    expiry_cutoff,
    next_action,
    send_with_short_retries,
)
from gateway.errors import Refusal
from gateway.model import canonical_json
from gateway.store.api import DeliveryAttempt, OutboundMessage, Outbox
from gateway.store.errors import StoreError
from gateway.wire.base import PlatformClient

__all__ = ["NOT_SENT", "DeliveryWorker", "WorkerSettings"]

log = logging.getLogger("gateway.delivery")
#: ``last_error_code`` of a claimed message handed back unsent (stop, or a lease about to expire)
NOT_SENT = "NOT_SENT"
#: seconds between two expiry sweeps of one worker (each sweep is one UPDATE per destination)
EXPIRY_SWEEP_EVERY = 1.0


class WorkerSettings:
    """How hard one worker pushes, per destination: claimed messages held (``batch``), sends at once
    (``per_destination``); the lease length, the idle poll interval and the linger after a kick."""

    def __init__(
        self,
        *,
        batch: int = 64,
        lease_seconds: float = 120.0,
        per_destination: int = 8,
        poll_interval: float = 0.5,
        linger: float = 0.005,
    ) -> None:
        if batch < 1 or per_destination < 1 or lease_seconds <= 0 or poll_interval <= 0 or linger < 0:
            raise ValueError("batch and per_destination must be >= 1, lease_seconds and poll_interval > 0, linger >= 0")
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.per_destination = per_destination
        self.poll_interval = poll_interval
        #: after a kick, wait this long before claiming, so a burst of submissions is claimed in one query
        self.linger = linger

    @property
    def refill_at(self) -> int:
        """Claim again for a destination only once its held messages are down to this many.

        Why not at every free slot: each outcome of an ordered message kicks its destination, and a claim is a
        store round trip (an indexed walk, an update, a commit) whatever its size; claiming the one slot a
        finished send freed cost one claim per delivery, a fifth of a g60 delivery's CPU in the benchmark.
        Refilling from half a batch claims up to half a batch at a time, and the sends never idle: at least
        ``per_destination`` claimed messages are still waiting when the claim is made.
        """
        return max(self.batch // 2, self.per_destination)

    @property
    def lease_margin(self) -> float:
        """Do not start a send with less than this left on the lease (a send may take the transport's timeout)."""
        return self.lease_seconds / 4


class DeliveryWorker:
    def __init__(
        self,
        store: Outbox,
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
        # not `breakers or ...`: an empty registry has len() 0 and would be replaced by the defaults
        self.breakers = breakers if breakers is not None else BreakerRegistry(clock=clock)
        self.settings = settings or WorkerSettings()
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.on_outcome = on_outcome  # metrics hook: (message, action)
        self._wake = asyncio.Event()
        #: a finished send made room to claim for a destination that may have more due (see ``_start``)
        self._freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._dirty: set[str] = set()  # destinations with new work since the last claim
        self._full: set[str] = set()  # destinations whose last claim was full: more may be due
        self._held: dict[str, int] = {}  # claimed and not finished, per destination
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._running: asyncio.Task[None] | None = None
        self._stopped: asyncio.Future[int] | None = None
        self._swept: float | None = None  # clock() of the last expiry sweep
        #: outcomes recorded by this worker: ``delivered``, ``retry``, ``dead``, ``not_sent`` (tests, metrics)
        self.counts: Counter[str] = Counter()

    def kick(self, destinations: Iterable[str] | None = None) -> None:
        """New work was committed for ``destinations`` (all when None): claim it now, not at the next poll."""
        self._dirty.update(self.clients if destinations is None else destinations)
        self._wake.set()

    def policy(self, destination: str) -> RetryPolicy:
        return self.policies.get(destination, self.default_policy)

    def breaker_state(self, destination: str) -> BreakerState:
        """The destination's circuit breaker as this worker sees it (readiness, metrics, tests)."""
        return self.breakers.get(destination).state

    @property
    def in_flight(self) -> int:
        """Messages claimed by this worker and not yet recorded."""
        return len(self._in_flight)

    async def run(self) -> None:
        """Deliver until ``stop``; when nothing was claimed, wait for a kick, a finished send that makes room to
        claim (``_start``) or the poll."""
        self._running = asyncio.current_task()
        loop = asyncio.get_running_loop()
        everything, scanned = True, 0.0
        while not self._stopping.is_set():
            self._wake.clear()  # before claiming: a kick arriving during the claim is not lost
            self._freed.clear()
            # every poll interval at least, look at every destination: retries come due without a kick, and a
            # busy stream of kicks for one destination must not starve the others
            if everything or loop.time() - scanned >= self.settings.poll_interval:
                everything, scanned, self._dirty = True, loop.time(), set()
            try:
                claimed = await self.run_once(None if everything else self._wanted())
            except StoreError as exc:  # the database restarts or fails over: keep the loop, try again later
                log.warning("claiming from the outbox failed: %s", type(exc).__name__)
                claimed, everything = 0, True
                await asyncio.sleep(self.settings.poll_interval)
                continue
            if claimed:
                everything = False
                continue
            waiters = {
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self._stopping.wait()),
                asyncio.ensure_future(self._freed.wait()),
            }
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=self.settings.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:  # also when the run is cancelled: no waiter left pending
                for waiter in waiters:
                    waiter.cancel()
            everything = not done  # the poll interval passed: look at every destination again
            if self._wake.is_set() and self.settings.linger:
                await asyncio.sleep(self.settings.linger)

    async def stop(self, grace: float | None = None) -> int:
        """Stop claiming; let the sends in progress finish and record for up to ``grace`` seconds (no limit when
        None), then cancel the rest and hand back every claim still held; returns how many were handed back.

        Calling it again (the app's cleanup after the server's signal handler) waits for the first call.
        """
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop(grace))
        return await asyncio.shield(self._stopped)

    async def _stop(self, grace: float | None) -> int:
        self._stopping.set()
        loop = asyncio.get_running_loop()
        deadline = None if grace is None else loop.time() + max(grace, 0.0)
        if self._running is not None and self._running is not asyncio.current_task():
            await self._until(deadline, {self._running})
        while self._in_flight and (deadline is None or loop.time() < deadline):
            await self._until(deadline, set(self._in_flight))
        left = [task for task in (self._running, *self._in_flight) if task is not None and not task.done()]
        for task in left:
            task.cancel()  # past the grace: the send is abandoned; the receiver deduplicates by message id
        await asyncio.gather(*left, return_exceptions=True)
        try:
            released = await self.store.release_claims(
                self.owner, self.clock(), NOT_SENT, "claimed but not finished when the worker stopped"
            )
        except StoreError as exc:  # the store is down too: the claims come back when their leases run out
            log.warning(
                "handing claims back at stop failed (%s); they return after their lease",
                type(exc).__name__,
                extra={"cancelled": len(left)},
            )
            return 0
        self.counts["released"] += released
        if left or released:
            log.warning(
                "worker stopped: %d send(s) cancelled at the grace, %d claim(s) handed back",
                len(left),
                released,
                extra={"cancelled": len(left), "released": released},
            )
        return released

    @staticmethod
    async def _until(deadline: float | None, tasks: set[asyncio.Task[None]]) -> None:
        """Wait for ``tasks`` to finish, or for the deadline (loop time), whichever comes first."""
        timeout = None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0.0)
        if tasks and (timeout is None or timeout > 0):
            await asyncio.wait(tasks, timeout=timeout)

    def _wanted(self) -> set[str]:
        wanted = self._dirty | self._full
        self._dirty = set()
        return wanted

    async def run_once(self, destinations: Iterable[str] | None = None) -> int:
        """Claim due messages of ``destinations`` (all by default) as room allows; start delivering them."""
        chosen = self.clients if destinations is None else [d for d in destinations if d in self.clients]
        now = self.clock()
        if destinations is None and (self._swept is None or now - self._swept >= EXPIRY_SWEEP_EVERY):
            self._swept = now
            await self.expire_overdue(now)
        plans = [(d, n) for d in chosen if (n := self._room(d)) > 0]
        results = await asyncio.gather(
            *(self.store.claim_due(now, n, self.owner, self.settings.lease_seconds, d) for d, n in plans)
        )
        claimed = 0
        for (destination, limit), messages in zip(plans, results, strict=True):
            if len(messages) >= limit:
                self._full.add(destination)
            else:
                self._full.discard(destination)
            for message in messages:
                self._start(message)
            claimed += len(messages)
        return claimed

    async def expire_overdue(self, now: float) -> int:
        """Dead-letter every destination's unclaimed messages past their ``max_age``, whatever the breakers say."""
        actions = {d: expiry(self.policy(d)) for d in self.clients}
        found = await asyncio.gather(
            *(
                self.store.expire(d, expiry_cutoff(self.policy(d), now), now, action.code, action.reason)
                for d, action in actions.items()
            )
        )
        for messages in found:
            for message in messages:
                self.counts["expired"] += 1
                self._recorded(message, actions[message.destination])
        return sum(map(len, found))

    def _room(self, destination: str) -> int:
        """How many more messages to claim for ``destination`` now (0 while its breaker is open)."""
        held = self._held.get(destination, 0)
        room = self.settings.batch - held if held <= self.settings.refill_at else 0
        state = self.breaker_state(destination)
        if state is BreakerState.OPEN:
            return 0
        if state is BreakerState.HALF_OPEN:  # one probe at a time
            return 1 if self._held.get(destination, 0) == 0 else 0
        return max(room, 0)

    def _start(self, message: OutboundMessage) -> None:
        self._held[message.destination] = self._held.get(message.destination, 0) + 1
        task = asyncio.create_task(self._limited(message))
        self._in_flight.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._in_flight.discard(done)
            held = self._held[message.destination] = self._held[message.destination] - 1
            # Wake the claiming loop only when this finish lets it claim (the destination's last claim was full and
            # it now holds few enough to refill, ``_room``), not at every finish: waiting on every send in flight
            # (up to ``batch`` tasks per destination) put and took a done-callback on each of them at every turn of
            # the loop, ~60 of each per g60 delivery in the benchmark's drain.
            if held <= self.settings.refill_at and message.destination in self._full:
                self._freed.set()

        task.add_done_callback(finished)

    async def drain(self) -> None:
        """Deliver everything due now and wait for it (tests, the demo, the benchmark)."""
        while await self.run_once() or self._in_flight:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _limited(self, message: OutboundMessage) -> None:
        limit = self._limits.get(message.destination)
        if limit is None:
            limit = self._limits[message.destination] = asyncio.Semaphore(self.settings.per_destination)
        try:
            async with limit:
                now = self.clock()
                lease_left = (message.lease_until or 0.0) - now
                if self._stopping.is_set() or lease_left < self.settings.lease_margin:
                    await self._hand_back(message)
                elif expired(self.policy(message.destination), message.started, now):
                    await self._expire_claimed(message)
                else:
                    await self.deliver(message)
        except Exception:  # a bug must not kill the worker; the lease expires and the message comes back
            log.exception(
                "delivery of an outbox message failed unexpectedly",
                extra={"destination": message.destination, "outbox_id": message.id},
            )

    async def _hand_back(self, message: OutboundMessage) -> None:
        """Release a claimed message unsent: due again at once, for this or another instance."""
        self.counts["not_sent"] += 1
        await self.store.schedule_retry(
            message.id,
            self.owner,
            self.clock(),
            NOT_SENT,
            "claimed but not sent (worker stopping or lease running out)",
        )

    async def _expire_claimed(self, message: OutboundMessage) -> None:
        """A claimed message already past its ``max_age``: dead-letter it unsent (``DELIVERY_EXPIRED``)."""
        action = expiry(self.policy(message.destination))
        self.counts["expired"] += 1
        await self.store.dead_letter(message.id, self.owner, action.code, action.reason)
        self._recorded(message, action)

    def _recorded(self, message: OutboundMessage, action: Any) -> None:
        """After an outcome is recorded: the next message of an ordered case may be due now; tell the metrics."""
        if message.order_key is not None and not isinstance(action, RetryAt):  # a retry still holds its successors
            self.kick([message.destination])
        if self.on_outcome is not None:
            self.on_outcome(message, action)

    async def _keep_lease(self, message: OutboundMessage) -> None:
        """Renew the lease of a message being sent whenever a third of it has run down, until cancelled.

        Started by ``_LeaseKeeper`` when the first renewal is due: when the lease has two thirds left (at once for a
        message that waited for its turn after the claim, a third of the lease in for one sent straight away). A
        heartbeat, not a retry: a renewal that fails for a store error is tried again at the next beat; a renewal
        refused because another owner holds the message ends the heartbeat (the outcome will not be recorded).
        """
        every = self.settings.lease_seconds / 3
        while True:
            try:
                kept = await self.store.renew_lease(message.id, self.owner, self.clock() + self.settings.lease_seconds)
            except StoreError as exc:
                log.warning(
                    "renewing a lease failed: %s",
                    type(exc).__name__,
                    extra={"destination": message.destination, "outbox_id": message.id},
                )
            else:
                if not kept:
                    log.warning(
                        "the lease of an outbox message was lost while it was being sent",
                        extra={"destination": message.destination, "outbox_id": message.id},
                    )
                    return
            await asyncio.sleep(every)

    async def deliver(self, message: OutboundMessage) -> None:
        """One attempt for one claimed message, and its recorded outcome."""
        breaker = self.breakers.get(message.destination)
        if not breaker.allow():  # opened since the claim: postpone without sending
            when = breaker.retry_at() or self.clock() + 1.0
            self.counts["not_sent"] += 1
            await self.store.schedule_retry(
                message.id, self.owner, when, "BREAKER_OPEN", "destination circuit open; not sent"
            )
            return
        policy = self.policy(message.destination)
        started = self.clock()
        heartbeat = _LeaseKeeper(self, message)
        try:
            outcome = await self._attempt(message, policy)
        finally:
            await heartbeat.stop()
        breaker.record(outcome)
        now = self.clock()
        action = next_action(policy, max(message.attempts, 1), message.started, now, outcome, rng=self.rng)
        attempt = _attempt_line(message, action, now, now - started)
        if isinstance(action, Done):
            self.counts["delivered"] += 1
            receipt = str(action.receipt).encode("utf-8")
            kept = await self.store.mark_delivered(message.id, self.owner, receipt, now, attempt=attempt)
        elif isinstance(action, RetryAt):
            self.counts["retry"] += 1
            kept = await self.store.schedule_retry(
                message.id,
                self.owner,
                action.when,
                action.kind.value,
                f"transient failure ({action.kind.value})",
                attempt=attempt,
            )
        else:
            self.counts["dead"] += 1
            detail = action.reason if action.where is None else f"{action.reason} at {action.where}"
            kept = await self.store.dead_letter(message.id, self.owner, action.code, detail, attempt=attempt)
        if not kept:
            log.warning(
                "the lease of an outbox message was lost before its outcome was recorded",
                extra={"destination": message.destination, "outbox_id": message.id},
            )
        self._recorded(message, action)

    async def _attempt(
        self, message: OutboundMessage, policy: RetryPolicy
    ) -> Delivered[object] | DeliveryError | Refusal:
        client = self.clients.get(message.destination)
        if client is None:
            return Undeliverable("UNKNOWN_DESTINATION", "no client is configured for this destination")
        record = canonical_json.loads(message.kind, message.payload)

        async def send() -> object:
            accepted = await client.submit(message.kind, record, message.message_id)
            return accepted.receipt_no

        try:
            return Delivered(await send_with_short_retries(send, policy, self.sleep, rng=self.rng))
        except (DeliveryError, Refusal) as exc:  # a refusal says who refused: the destination, or our own encoder
            return exc


class _LeaseKeeper:
    """The lease heartbeat of one send: a timer until the first renewal is due, the renewing task only from then on.

    Why not the task from the start: nearly every send ends long before a third of its lease has run down, and a task
    per send (created, cancelled, gathered) was a measurable part of each g60 delivery's event-loop time; a timer
    handle is a fraction of that.
    """

    __slots__ = ("_message", "_task", "_timer", "_worker")

    def __init__(self, worker: DeliveryWorker, message: OutboundMessage) -> None:
        self._worker = worker
        self._message = message
        self._task: asyncio.Task[None] | None = None
        every = worker.settings.lease_seconds / 3
        due = max(0.0, (message.lease_until or 0.0) - worker.clock() - 2 * every)  # two thirds of the lease left
        self._timer = asyncio.get_running_loop().call_later(due, self._start)

    def _start(self) -> None:
        self._task = asyncio.create_task(self._worker._keep_lease(self._message))

    async def stop(self) -> None:
        """No renewal after this returns (a renewal under way is cancelled and waited for)."""
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _attempt_line(message: OutboundMessage, action: Any, now: float, latency: float) -> DeliveryAttempt:
    """The attempt's line in the message's history (the console's attempts table). The store writes it with the
    outcome, in the same transaction, and only if the outcome was recorded (a lost lease records neither)."""
    if isinstance(action, Done):
        outcome, code = "delivered", None
    elif isinstance(action, RetryAt):
        outcome, code = "retry", action.kind.value
    else:
        outcome, code = "dead", action.code
    return DeliveryAttempt(message.id, max(message.attempts, 1), now, outcome, code, max(latency, 0.0))
