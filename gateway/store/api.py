"""What the gateway asks of its durable store, and the frozen records that cross that line.

Why an interface split by concern: the pipeline, the delivery workers, the operator API, the replay guard,
retention and the catalogue sync are each written against the narrowest protocol they use (:class:`Outbox`,
:class:`IdempotencyRecords`, :class:`Nonces`, :class:`SyncState`, :class:`OperatorAccounts`,
:class:`ConsoleSessions`), so a signature says which tables a part may touch, and the embedded SQLite store (one
instance, the default) and the PostgreSQL store (several instances sharing a database) stay interchangeable: both
implement :class:`Store`, the union of them all.

The rules every backend keeps:

- Time is always passed in by the caller (Unix seconds as ``float``); the store never reads a clock,
  so retry policies and lease expiry are testable with a fake clock.
- ``accept`` writes the inbound idempotency record and all its outbound messages in ONE transaction
  before the gateway answers the sender (platforms README §9: a repeated key gets the first receipt
  and creates no second delivery).
- An outbound message moves ``pending → delivering → delivered | pending (retry) | dead``; only the
  owner of the current lease may record an outcome, so two instances never deliver one message
  concurrently. An operator may put a ``dead`` message back to ``pending`` (same ``idem_key`` and
  ``message_id``, so the receiver still recognises a repeat) or discard it.
- ``attempts`` counts claims: a worker that crashes mid-delivery has still used an attempt, so a
  message that kills its worker cannot loop for ever.
- A message with an ``order_key`` is claimable only when no earlier message (lower ``order_seq``) with the same
  key to the same destination is pending, being delivered or dead (:mod:`.transitions`): one case's events reach
  each platform in order, across retries, crashes and instances, while different cases go in parallel.
- ``schedule_start`` is when the current delivery schedule began (creation, or an operator's replay): a message's
  ``max_age`` counts from it, so a replayed dead letter gets a fresh deadline and full retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "DEAD",
    "DELIVERED",
    "DELIVERING",
    "PENDING",
    "STATES",
    "Accepted",
    "ConsoleSession",
    "ConsoleSessions",
    "DeliveryAttempt",
    "DestinationStats",
    "IdempotencyRecords",
    "InboundRecord",
    "Nonces",
    "OperatorAccount",
    "OperatorAccounts",
    "OutboundMessage",
    "Outbox",
    "OutboxQuery",
    "Store",
    "SyncState",
]

PENDING: Final = "pending"
DELIVERING: Final = "delivering"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
#: Every state an outbound message can be in.
STATES: Final = frozenset({PENDING, DELIVERING, DELIVERED, DEAD})


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """The idempotency record of one accepted submission and the receipt the sender got.

    ``kind`` is the record type ("case", "status", "evaluation", ...); ``key`` its idempotency key
    (README §9: case ``case_no:version``, status ``case_no:seq``, g60 ``MessageId``). The receipt is
    kept as the exact bytes answered the first time, so a repeat gets the same bytes back.
    """

    kind: str
    key: str
    source: str
    received_at: float
    receipt: bytes = field(repr=False)
    receipt_type: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to deliver to one destination platform, as it sits in the outbox.

    ``payload`` (the signed wire bytes) and ``delivery_receipt`` hold personal data and are left
    out of ``repr``. ``idem_key`` and ``message_id`` never change, not even when an operator
    retries a dead letter, so the destination recognises a repeat.
    """

    id: str
    destination: str
    kind: str
    idem_key: str
    message_id: str
    payload: bytes = field(repr=False)
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    state: str = PENDING
    last_error_code: str | None = None
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    delivered_at: float | None = None
    delivery_receipt: bytes | None = field(default=None, repr=False)
    # the submission's request id and W3C traceparent, so its delivery's log lines join the submission's
    request_id: str | None = None
    traceparent: str | None = None
    #: the ordering key (a case number) and the position in it; ``None``: not ordered
    order_key: str | None = None
    order_seq: int = 0
    #: start of the current schedule (``max_age`` counts from here); ``None`` means ``created_at``
    schedule_start: float | None = None

    @property
    def started(self) -> float:
        """When the current delivery schedule began: creation, or the operator's last replay."""
        return self.created_at if self.schedule_start is None else self.schedule_start

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"OutboundMessage.state must be one of {sorted(STATES)}, got {self.state!r}")
        if self.attempts < 0:
            raise ValueError(f"OutboundMessage.attempts must be >= 0, got {self.attempts!r}")

    @classmethod
    def new(
        cls,
        *,
        id: str,
        destination: str,
        kind: str,
        idem_key: str,
        message_id: str,
        payload: bytes,
        now: float,
        request_id: str | None = None,
        traceparent: str | None = None,
        order_key: str | None = None,
        order_seq: int = 0,
    ) -> OutboundMessage:
        """A fresh pending message, due at once: what the pipeline hands to ``accept``."""
        return cls(
            id=id,
            destination=destination,
            kind=kind,
            idem_key=idem_key,
            message_id=message_id,
            payload=payload,
            created_at=now,
            next_attempt_at=now,
            request_id=request_id,
            traceparent=traceparent,
            order_key=order_key,
            order_seq=order_seq,
            schedule_start=now,
        )


@dataclass(frozen=True, slots=True)
class Accepted:
    """The answer to ``accept``: ``new`` is False when the key was already known.

    For a repeat, ``receipt`` and ``receipt_type`` are the FIRST receipt, whatever the caller
    offered this time (README §9: content is not compared).
    """

    new: bool
    receipt: bytes = field(repr=False)
    receipt_type: str


@dataclass(frozen=True, slots=True)
class DestinationStats:
    """Outbox figures for one destination, for the metrics endpoint and alerts.

    ``oldest_pending_age`` is ``now - created_at`` of the oldest message not yet delivered
    (pending or being delivered), or ``None`` when there is none.
    """

    destination: str
    pending: int
    delivering: int
    dead: int
    oldest_pending_age: float | None


@dataclass(frozen=True, slots=True)
class OperatorAccount:
    """An operator of the browser console (:mod:`gateway.console`): a name, a role and an argon2 password hash.

    ``single_use`` marks the one-time login ``gateway demo`` prints: its hash is spent (replaced by an unusable
    value) by the first login that uses it. The hash is left out of ``repr``.
    """

    name: str
    role: str
    password_hash: str = field(repr=False)
    created_at: float
    single_use: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One delivery attempt of an outbox message as the worker recorded its outcome.

    ``attempt`` is the message's attempt count at the time (it restarts at 1 after an operator's retry);
    ``outcome`` is ``delivered``, ``retry``, ``dead`` or ``not_sent``; ``code`` the stable refusal or transient
    kind; ``latency`` seconds from the start of the send to its outcome.
    """

    outbox_id: str
    attempt: int
    at: float
    outcome: str
    code: str | None
    latency: float


@dataclass(frozen=True, slots=True)
class OutboxQuery:
    """The console's outbox filters; ``None`` leaves a field unfiltered. ``source`` is the submitting platform
    (joined through the inbound idempotency record); ``created_from``/``created_to`` bound ``created_at``."""

    state: str | None = None
    destination: str | None = None
    source: str | None = None
    code: str | None = None
    created_from: float | None = None
    created_to: float | None = None
    message_id: str | None = None
    limit: int = 200


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in console operator as the store keeps it: the SHA-256 of the cookie token, never the token."""

    token_sha256: str
    name: str
    role: str
    csrf: str = field(repr=False)
    lang: str
    last_seen: float


@runtime_checkable
class Outbox(Protocol):
    """The outbox: claims and leases for the delivery workers, the transitions of :mod:`.transitions`, listings and
    figures for operators."""

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        """Lease up to ``limit`` due messages (pending and due, or with an expired lease) to ``owner``.

        Claimed messages become ``delivering`` with ``lease_until = now + lease_seconds`` and one
        more attempt. Two concurrent claimers never receive the same message. Oldest due first. A message
        whose order key has an earlier message still pending, delivering or dead is not claimed.
        """
        ...

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        """Extend ``owner``'s lease while it is still sending; False if the lease was lost."""
        ...

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        """Dead-letter ``destination``'s unclaimed messages whose schedule began at or before ``started_before``.

        Unclaimed means pending, or delivering with a lease expired by ``now``; returns the messages it dead-lettered
        (for the metrics and the log).
        """
        ...

    # The outcomes below take the attempt's history line (``attempt``) so that it is written in the SAME transaction
    # as the transition, and only when the transition happened: one writer job (SQLite) or one statement
    # (PostgreSQL) per delivery instead of two. A line already recorded (same message, attempt and time) is kept.

    async def mark_delivered(
        self, id: str, owner: str, receipt: bytes | None, now: float, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        """Record a successful delivery; False (nothing changed) if ``owner`` no longer holds the lease."""
        ...

    async def schedule_retry(
        self,
        id: str,
        owner: str,
        next_attempt_at: float,
        error_code: str,
        error: str,
        *,
        attempt: DeliveryAttempt | None = None,
    ) -> bool:
        """Put the message back to ``pending`` until ``next_attempt_at``; False if the lease was lost."""
        ...

    async def dead_letter(
        self, id: str, owner: str, error_code: str, error: str, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        """Give up on the message (state ``dead``) for an operator; False if the lease was lost."""
        ...

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        """Hand back every message ``owner`` still holds (``delivering`` under its lease): ``pending``, due at
        ``now``, lease cleared, attempts kept; returns how many.

        A stopping worker calls it after cancelling the sends that outlived its grace, so another instance claims
        them at once instead of after the lease. Owner-checked like every outcome: a lease that already expired and
        was claimed by someone else is not touched.
        """
        ...

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        """Messages filtered by state and destination, oldest first, for the operator API."""
        ...

    async def get_message(self, id: str) -> OutboundMessage | None:
        """One message by id, or None."""
        ...

    async def retry_dead(self, id: str, now: float) -> bool:
        """Return a dead letter to ``pending`` with a fresh schedule (due and started at ``now``, attempts reset);
        False if not dead."""
        ...

    async def followers(self, id: str) -> list[OutboundMessage]:
        """The undelivered messages after ``id`` in its order (same destination and key), in order."""
        ...

    async def discard(self, id: str) -> bool:
        """Delete a dead letter for good; False if the message is not dead."""
        ...

    async def purge_delivered(self, before: float) -> int:
        """Delete delivered messages delivered before ``before``; returns how many went."""
        ...

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        """Per destination: pending, delivering and dead counts and the oldest undelivered age."""
        ...

    # --- the console: attempt histories (migration 9) and its outbox search ----------------

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        """Append one delivery attempt's outcome to its message's history (the console's attempts table)."""
        ...

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        """The recorded attempts of one message, oldest first (at most ``limit``, the latest kept)."""
        ...

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        """Messages matching every set field of ``query``, oldest first (the console's outbox filters)."""
        ...


@runtime_checkable
class IdempotencyRecords(Protocol):
    """The inbound idempotency records and their receipts (README §9), written with their outbound messages at once,
    and the per-case sequence guard (README §5.2)."""

    async def accept(self, inbound: InboundRecord, outbound: Sequence[OutboundMessage]) -> Accepted:
        """Record ``inbound`` and queue ``outbound`` in one transaction, unless the key is known.

        If ``(inbound.kind, inbound.key)`` exists nothing is written and the stored receipt is
        returned with ``new=False``. Outbound messages must be ``pending`` and unleased.
        """
        ...

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        """The inbound record (with its receipt) for an idempotency key, if accepted before."""
        ...

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        """The ``source`` of the latest accepted record of ``kind`` whose key starts with ``key_prefix``.

        The pipeline routes a status event back to the platform its case came from: the case's inbound
        records are keyed ``case_no:version``, so ``latest_source("case", case_no + ":")`` is the origin.
        """
        ...

    async def record_seq(self, case_no: str, seq: int) -> int:
        """Record ``seq`` for ``case_no`` and return the highest seq seen so far (>= ``seq``).

        The receiver refuses a status event whose seq is lower than the result (README §5.2:
        ``RULE_VIOLATION``).
        """
        ...

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        """Delete the idempotency records of ``kinds`` from ``source`` received before ``before``; how many went.

        Retention (:mod:`gateway.retention`): once a platform's documented repeat horizon has passed, a repeat of
        the key is a new submission to that platform, so the record no longer answers anything.
        """
        ...


@runtime_checkable
class Nonces(Protocol):
    """The replay guard: nonces and consent ``jti`` values seen within their validity."""

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record a nonce; False if it was seen in ``scope`` and has not expired by ``now`` (a replay)."""
        ...

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        """Take back a recorded nonce (a consent ``jti`` reserved for an exchange that then failed)."""
        ...

    async def purge_nonces(self, now: float) -> int:
        """Delete nonces expired by ``now``; returns how many went."""
        ...


@runtime_checkable
class SyncState(Protocol):
    """The catalogue sync's memory: content hashes of the items sent and each job's checkpoint."""

    async def get_item_hashes(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        """The stored content hash of each known key (unknown keys are absent from the result)."""
        ...

    async def put_item_hashes(self, source: str, hashes: Mapping[str, str]) -> None:
        """Insert or replace the content hashes of many items at once."""
        ...

    async def get_checkpoint(self, job: str) -> str | None:
        """The last checkpoint saved for a sync job, or None."""
        ...

    async def put_checkpoint(self, job: str, value: str) -> None:
        """Save (replace) the checkpoint of a sync job."""
        ...


@runtime_checkable
class OperatorAccounts(Protocol):
    """The browser console's operator accounts (:mod:`gateway.console`)."""

    async def put_operator(self, account: OperatorAccount) -> None:
        """Create the operator account, or replace the one of the same name (a new role or password)."""
        ...

    async def get_operator(self, name: str) -> OperatorAccount | None:
        """The operator account ``name``, or None."""
        ...

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        """Make a single-use account's password unusable if its hash is still ``password_hash``; True for the one
        caller that did it (two logins racing with the same one-time password: only one gets in)."""
        ...

    async def list_operators(self) -> list[OperatorAccount]:
        """Every console account, by name (the admins' accounts page)."""
        ...


@runtime_checkable
class ConsoleSessions(Protocol):
    """The browser console's sessions, shared by every instance (migration 10): keyed by the token's SHA-256."""

    async def put_session(self, session: ConsoleSession, idle_before: float, max_sessions: int) -> None:
        """Store a new console session; the sessions last seen at or before ``idle_before`` end, and beyond
        ``max_sessions`` the least recently seen ones end too (the table stays bounded)."""
        ...

    async def touch_session(self, token_sha256: str, idle_before: float, now: float) -> ConsoleSession | None:
        """The session of ``token_sha256`` with ``last_seen`` moved to ``now``; None (and the session deleted)
        when unknown or last seen at or before ``idle_before``."""
        ...

    async def update_session(self, token_sha256: str, lang: str) -> None:
        """Remember the session's language."""
        ...

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        """Delete one session (by token digest) or every session of an account (by name); how many went."""
        ...


@runtime_checkable
class Store(Outbox, IdempotencyRecords, Nonces, SyncState, OperatorAccounts, ConsoleSessions, Protocol):
    """The durable store: every concern above on one database. Every method may raise
    :class:`~gateway.store.errors.StoreError`.

    Only what opens, wires or wraps the store (``open_store``, the app, the sealed store) needs all of it; a consumer
    is typed against the narrowest concern it uses, so what it may touch shows in its signature.
    """

    async def ping(self) -> None:
        """Readiness: return if the database answers, raise ``StoreUnavailable`` otherwise."""
        ...

    async def close(self) -> None:
        """Release connections and threads; later calls raise ``StoreUnavailable``."""
        ...
