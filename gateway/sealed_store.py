"""The store with its personal-data columns encrypted at rest, one layer above both backends.

Why a layer and not SQL: the outbox payload (the canonical record: applicants' names, ID numbers, phones) and the
destination's delivery receipt are opaque bytes to the store, so encrypting them where they enter and leave the
store (:meth:`SealedStore.accept`, :meth:`~SealedStore.mark_delivered`; every read that returns an
:class:`~gateway.store.api.OutboundMessage`) covers SQLite and PostgreSQL alike and leaves each backend's queries
as they are. The keys are the message log's (:mod:`gateway.msglog.atrest`): the same data key, cipher and key ids,
so one key is managed, rotated and kept, not two.

Stored form of a sealed column: ``MAGIC || len(key_id) (1 byte) || key_id || nonce || ciphertext || tag``. The
associated data binds the ciphertext to its column and its outbox message id, so a payload copied into another row
does not decrypt. Bytes that do not start with ``MAGIC`` are plaintext written by a build before this layer: they
are returned as they are (a canonical record starts with ``{``, never with a NUL byte), so an upgraded gateway
still delivers what an older one queued; retention removes them with the rest of the delivered rows.

Not sealed, on purpose: the inbound ``receipt`` is the gateway's own receipt number (``TB`` + random hex), no
personal data; ids, idempotency keys (case numbers and versions), states and times are what the store queries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Final

from gateway.config import Config
from gateway.msglog.atrest import AtRestKeys
from gateway.msglog_cli import data_keys
from gateway.store import open_store
from gateway.store.api import (
    Accepted,
    ConsoleSession,
    DeliveryAttempt,
    DestinationStats,
    InboundRecord,
    OperatorAccount,
    OutboundMessage,
    OutboxQuery,
    Store,
)

__all__ = ["MAGIC", "SealedStore", "is_sealed", "open_configured_store"]

log = logging.getLogger("gateway.store")

#: The first bytes of every sealed value (a NUL first: no JSON, XML or text payload starts so).
MAGIC: Final = b"\x00TBSEAL1\x00"
_PAYLOAD: Final = "outbox.payload"
_RECEIPT: Final = "outbox.delivery_receipt"


#: ``OutboundMessage``'s constructor arguments, in order: a sealed or opened copy is built positionally, without
#: ``dataclasses.replace``'s walk over the fields on every call (one copy per outbox message in and out)
_ARGS: Final = tuple(f.name for f in fields(OutboundMessage) if f.init)
_ARG_VALUES: Final = attrgetter(*_ARGS)
_PAYLOAD_AT: Final = _ARGS.index("payload")
_RECEIPT_AT: Final = _ARGS.index("delivery_receipt")


def _with_bytes(message: OutboundMessage, payload: bytes, receipt: bytes | None) -> OutboundMessage:
    """``message`` with this payload and delivery receipt (``replace(message, payload=..., delivery_receipt=...)``)."""
    values = list(_ARG_VALUES(message))
    values[_PAYLOAD_AT] = payload
    values[_RECEIPT_AT] = receipt
    return OutboundMessage(*values)


def _aad(purpose: str, message_id: str) -> bytes:
    return f"tongban-store/1|{purpose}|{message_id}".encode()


def is_sealed(value: bytes) -> bool:
    """True when ``value`` is in the sealed form (False: plaintext from an older build)."""
    return value.startswith(MAGIC)


class SealedStore:
    """A :class:`~gateway.store.api.Store` that encrypts payloads and delivery receipts on the way in.

    Every other call goes to ``inner`` unchanged. ``inner`` stays reachable (``.inner``) for tests and tools that
    must see the stored bytes.
    """

    def __init__(self, inner: Store, keys: AtRestKeys) -> None:
        self.inner = inner
        self._keys = keys

    def __repr__(self) -> str:
        return f"SealedStore({self.inner!r})"

    def __getattr__(self, name: str) -> object:
        # store methods this layer has nothing to seal in (and ones added later) reach the backend as they are
        return getattr(self.inner, name)

    # --- the sealing itself -----------------------------------------------------------------

    def seal(self, plaintext: bytes, purpose: str, message_id: str) -> bytes:
        key_id, blob = self._keys.encrypt(plaintext, _aad(purpose, message_id))
        name = key_id.encode()
        if len(name) > 255:
            raise ValueError("an at-rest key id longer than 255 bytes cannot be stored")
        return MAGIC + bytes([len(name)]) + name + blob

    def open(self, stored: bytes, purpose: str, message_id: str) -> bytes:
        """The plaintext of ``stored``; plaintext from an older build comes back unchanged."""
        if not is_sealed(stored):
            return stored
        size = stored[len(MAGIC)]
        start = len(MAGIC) + 1
        key_id = stored[start : start + size].decode()
        return self._keys.decrypt(key_id, stored[start + size :], _aad(purpose, message_id))

    def _sealed(self, message: OutboundMessage) -> OutboundMessage:
        return _with_bytes(message, self.seal(message.payload, _PAYLOAD, message.id), message.delivery_receipt)

    def _opened(self, message: OutboundMessage) -> OutboundMessage:
        receipt = message.delivery_receipt
        return _with_bytes(
            message,
            self.open(message.payload, _PAYLOAD, message.id),
            None if receipt is None else self.open(receipt, _RECEIPT, message.id),
        )

    # --- calls that carry payloads ----------------------------------------------------------

    async def accept(self, inbound: InboundRecord, outbound: Sequence[OutboundMessage]) -> Accepted:
        return await self.inner.accept(inbound, [self._sealed(m) for m in outbound])

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        claimed = await self.inner.claim_due(now, limit, owner, lease_seconds, destination)
        return [self._opened(m) for m in claimed]

    async def mark_delivered(
        self, id: str, owner: str, receipt: bytes | None, now: float, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        sealed = None if receipt is None else self.seal(receipt, _RECEIPT, id)
        return await self.inner.mark_delivered(id, owner, sealed, now, attempt=attempt)

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        return [self._opened(m) for m in await self.inner.list_messages(state, destination, limit, offset)]

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        expired = await self.inner.expire(destination, started_before, now, error_code, error)
        return [self._opened(m) for m in expired]

    async def followers(self, id: str) -> list[OutboundMessage]:
        return [self._opened(m) for m in await self.inner.followers(id)]

    async def get_message(self, id: str) -> OutboundMessage | None:
        found = await self.inner.get_message(id)
        return None if found is None else self._opened(found)

    # --- everything else, unchanged ---------------------------------------------------------

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        return await self.inner.get_receipt(kind, key)

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        return await self.inner.latest_source(kind, key_prefix)

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
        return await self.inner.schedule_retry(id, owner, next_attempt_at, error_code, error, attempt=attempt)

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        return await self.inner.renew_lease(id, owner, lease_until)

    async def dead_letter(
        self, id: str, owner: str, error_code: str, error: str, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        return await self.inner.dead_letter(id, owner, error_code, error, attempt=attempt)

    async def retry_dead(self, id: str, now: float) -> bool:
        return await self.inner.retry_dead(id, now)

    async def discard(self, id: str) -> bool:
        return await self.inner.discard(id)

    async def purge_delivered(self, before: float) -> int:
        return await self.inner.purge_delivered(before)

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        return await self.inner.purge_inbound(source, kinds, before)

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        return await self.inner.outbox_stats(now)

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        return await self.inner.remember_nonce(scope, nonce, expires_at, now)

    async def purge_nonces(self, now: float) -> int:
        return await self.inner.purge_nonces(now)

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        await self.inner.forget_nonce(scope, nonce)

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        return await self.inner.release_claims(owner, now, error_code, error)

    async def record_seq(self, case_no: str, seq: int) -> int:
        return await self.inner.record_seq(case_no, seq)

    async def get_item_hashes(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        return await self.inner.get_item_hashes(source, keys)

    async def put_item_hashes(self, source: str, hashes: Mapping[str, str]) -> None:
        await self.inner.put_item_hashes(source, hashes)

    async def get_checkpoint(self, job: str) -> str | None:
        return await self.inner.get_checkpoint(job)

    async def put_checkpoint(self, job: str, value: str) -> None:
        await self.inner.put_checkpoint(job, value)

    async def put_operator(self, account: OperatorAccount) -> None:
        await self.inner.put_operator(account)

    async def get_operator(self, name: str) -> OperatorAccount | None:
        return await self.inner.get_operator(name)

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        return await self.inner.spend_single_use(name, password_hash)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    # --- the console's methods (migrations 9 and 10): only found messages carry sealed bytes ------

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        return [self._opened(m) for m in await self.inner.find_messages(query)]

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        await self.inner.record_attempt(attempt)

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        return await self.inner.list_attempts(outbox_id, limit)

    async def put_session(self, session: ConsoleSession, idle_before: float, max_sessions: int) -> None:
        await self.inner.put_session(session, idle_before, max_sessions)

    async def touch_session(self, token_sha256: str, idle_before: float, now: float) -> ConsoleSession | None:
        return await self.inner.touch_session(token_sha256, idle_before, now)

    async def update_session(self, token_sha256: str, lang: str) -> None:
        await self.inner.update_session(token_sha256, lang)

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        return await self.inner.end_sessions(token_sha256=token_sha256, name=name)

    async def list_operators(self) -> list[OperatorAccount]:
        return await self.inner.list_operators()


async def open_configured_store(config: Config, store: Store | None = None, *, create: bool = True) -> Store:
    """The store of ``config`` (or ``store``, already open), sealed with the message log's data key.

    ``create``: make the SQLite file's folder when it is missing (the server); an operator's command passes False,
    so that a wrong working directory is an error naming ``store.url`` rather than a new, empty outbox.

    Without ``[message_log]`` there is no data key: the store is returned unsealed and a warning says so (the
    default configuration has one; docs/operations.md, "Retention and data at rest").
    """
    opened = store is None
    if store is None:
        if create and config.store_url.startswith("sqlite://"):
            Path(config.store_url[len("sqlite://") :].partition("?")[0]).parent.mkdir(parents=True, exist_ok=True)
        store = await open_store(config.store_url)
    if config.message_log is None:
        log.warning("no [message_log] data key: outbox payloads are stored unencrypted")
        return store
    try:
        keys = data_keys(config)
    except BaseException:
        if opened:
            await store.close()
        raise
    return SealedStore(store, keys)
