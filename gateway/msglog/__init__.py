"""The tamper-evident message log (issue 6): every message in and out, with its signature evidence.

Use :func:`open_message_log` and program against :class:`MessageLog` only::

    log = await open_message_log(
        "sqlite:///var/lib/tongban/msglog.db",            # or postgresql://...?schema=gateway
        encryption_key=secret_from_file("/run/keys/msglog-k2"), key_id="k2", cipher="SM4-GCM",
        signing_key=SigningKey.of("gw-seal-2025", ed25519_private_key),
        older_keys=[AtRestKey.of("k1", old_secret)], retention=180 * 86400,
    )
    entry = await log.append(NewEntry(at=now, direction="in", platform="hefei", ...))
    seal = await log.seal(now)                 # periodically: one signature over the new entries
    report = await log.verify()                # report.ok, report.problem.kind / .seq
    await log.export(path, first_seal=3, last_seal=9)
    verify_export(path, {kid: verification_key})  # offline, no database, no data key
    await log.purge_expired(now)               # whole sealed segments older than the retention

How it works, and what is in the clear: see :mod:`.api`. The exact hashed bytes: :mod:`.chain`.
Verification rules and diagnosis: :mod:`.verify`. Export format: :mod:`.export`.
Errors: :mod:`.errors` (storage failures are the store's :class:`~gateway.store.errors.StoreError`).

URL rules are the store's: ``sqlite://`` then the file path (options ``busy_timeout``, ``batch_max``);
``postgresql://`` / ``postgres://`` go to asyncpg except ``schema``, ``min_size``, ``max_size``,
``connect_timeout`` and ``batch_max``. The log may share the store's database: its tables are
``msglog_*`` with their own ``msglog_schema_migrations``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.store.urls import POSTGRES_OPTIONS, SQLITE_OPTIONS, read_database_url
from signing.keys import SigningKey, VerificationKey
from signing.secret import Secret

from ._base import LogSettings
from .api import (
    ALTERED,
    BAD_SEAL,
    INSERTED,
    MALFORMED,
    MASK,
    REMOVED,
    REORDERED,
    UNSEALED_TAIL,
    Anchor,
    Entry,
    EntrySummary,
    ExportSummary,
    MessageLog,
    NewEntry,
    Problem,
    PurgeResult,
    Seal,
    VerifyReport,
)
from .atrest import AES_GCM, SM4_GCM, AtRestKey, AtRestKeys
from .errors import DecryptionFailed, IntegrityError, MessageLogError, NothingToExport
from .export import keys_from_jwks, verify_export
from .postgres import PostgresMessageLog
from .sqlite import SQLiteMessageLog

__all__ = [
    "AES_GCM",
    "ALTERED",
    "BAD_SEAL",
    "INSERTED",
    "MALFORMED",
    "MASK",
    "REMOVED",
    "REORDERED",
    "SM4_GCM",
    "UNSEALED_TAIL",
    "Anchor",
    "AtRestKey",
    "AtRestKeys",
    "DecryptionFailed",
    "Entry",
    "EntrySummary",
    "ExportSummary",
    "IntegrityError",
    "MessageLog",
    "MessageLogError",
    "NewEntry",
    "NothingToExport",
    "PostgresMessageLog",
    "Problem",
    "PurgeResult",
    "SQLiteMessageLog",
    "Seal",
    "VerifyReport",
    "keys_from_jwks",
    "open_message_log",
    "verify_export",
]

# the log groups appends on PostgreSQL too, so it takes ``batch_max`` there as well
_POSTGRES_OPTIONS: Mapping[str, Callable[[str], Any]] = {**POSTGRES_OPTIONS, "batch_max": int}


async def open_message_log(
    url: str,
    *,
    encryption_key: Secret | bytes,
    key_id: str,
    signing_key: SigningKey,
    cipher: str = SM4_GCM,
    older_keys: Iterable[AtRestKey] = (),
    verification_keys: Iterable[VerificationKey] = (),
    retention: float | None = None,
) -> MessageLog:
    """Open and migrate the message log named by ``url``.

    ``encryption_key``/``key_id``/``cipher`` encrypt new entries; ``older_keys`` are previous data
    keys (kept so that the log can still be read; the log itself never decrypts except on
    :meth:`~MessageLog.search` with keys given). ``signing_key`` (Ed25519 or ES256) signs seals;
    ``verification_keys`` are previous seal keys still trusted by :meth:`~MessageLog.verify`.
    ``retention`` (seconds) is what :meth:`~MessageLog.purge_expired` keeps.

    Raises :class:`InvalidStoreURL` for an unusable URL (never repeating it: it may hold a
    password), ``StoreUnavailable`` when the database cannot be reached, ``SchemaError`` when it
    is newer than this code, and ``KeyInvalid`` for an unusable key.
    """
    keys = AtRestKeys.create(AtRestKey.of(key_id, encryption_key, cipher), older_keys)
    settings = LogSettings(keys, signing_key, tuple(verification_keys), retention)
    parsed = read_database_url(
        url, sqlite_options=SQLITE_OPTIONS, postgres_options=_POSTGRES_OPTIONS, what="message log"
    )
    if parsed.kind == "sqlite":
        return await SQLiteMessageLog.open(parsed.target, settings=settings, **parsed.options)
    return await PostgresMessageLog.open(parsed.target, settings=settings, **parsed.options)
