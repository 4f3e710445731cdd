"""The message log's versioned schema: its own tables and its own version table.

Why separate from the store's migrations: the log may live in the store's database (same SQLite
file, same PostgreSQL schema) or in its own; keeping its tables (``msglog_*``) and its version table
(``msglog_schema_migrations``) apart lets either layout work and lets each evolve on its own. The
statement format, the type placeholders and the rules are the store's (:mod:`gateway.store.migrations`):

- Never change or remove a published migration; append a new one with the next version.
- One portable statement per entry; only ``{real}``, ``{blob}``, ``{bigint}`` differ per dialect.
- Hashes are lower-case hex text; times integer microseconds (``{bigint}``); ciphertexts ``{blob}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from gateway.store.errors import SchemaError
from gateway.store.migrations import Migration

__all__ = ["CREATE_VERSION_TABLE", "MIGRATIONS", "latest_version", "plan"]

_ZERO: Final = "0" * 64

CREATE_VERSION_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS msglog_schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "message log entries, seals, chain head and anchor",
        (
            "CREATE TABLE msglog_entries ("
            " seq {bigint} PRIMARY KEY,"
            " at_us {bigint} NOT NULL,"
            " direction TEXT NOT NULL,"
            " platform TEXT NOT NULL,"
            " operation TEXT NOT NULL,"
            " record_type TEXT NOT NULL,"
            " message_id TEXT NOT NULL,"
            " idem_key TEXT NOT NULL,"
            " case_no TEXT,"
            " licence_id TEXT,"
            " message_key_id TEXT NOT NULL,"
            " message_ct {blob} NOT NULL,"
            " message_sha256 TEXT NOT NULL,"
            " holder_key_id TEXT,"
            " holder_ct {blob},"
            " evidence TEXT NOT NULL,"
            " prev_hash TEXT NOT NULL,"
            " entry_hash TEXT NOT NULL)",
            "CREATE INDEX msglog_entries_case ON msglog_entries (case_no, seq) WHERE case_no IS NOT NULL",
            "CREATE INDEX msglog_entries_licence ON msglog_entries (licence_id, seq) WHERE licence_id IS NOT NULL",
            "CREATE TABLE msglog_seals ("
            " seal_no {bigint} PRIMARY KEY,"
            " first_seq {bigint} NOT NULL,"
            " last_seq {bigint} NOT NULL,"
            " last_entry_hash TEXT NOT NULL,"
            " prev_seal_hash TEXT NOT NULL,"
            " at_us {bigint} NOT NULL,"
            " kid TEXT NOT NULL,"
            " signature TEXT NOT NULL,"
            " seal_hash TEXT NOT NULL)",
            # One row: where the next append and the next seal continue. Appends lock it (PostgreSQL:
            # FOR UPDATE), which serialises every writer of the chain across gateway instances.
            "CREATE TABLE msglog_head ("
            " id INTEGER PRIMARY KEY CHECK (id = 1),"
            " last_seq {bigint} NOT NULL,"
            " last_hash TEXT NOT NULL,"
            " seal_no {bigint} NOT NULL,"
            " seal_hash TEXT NOT NULL,"
            " sealed_seq {bigint} NOT NULL)",
            f"INSERT INTO msglog_head VALUES (1, 0, '{_ZERO}', 0, '{_ZERO}', 0)",  # noqa: S608 (a constant)
            # One row: the last entry and seal removed by retention; verification starts here.
            "CREATE TABLE msglog_anchor ("
            " id INTEGER PRIMARY KEY CHECK (id = 1),"
            " seq {bigint} NOT NULL,"
            " entry_hash TEXT NOT NULL,"
            " seal_no {bigint} NOT NULL,"
            " seal_hash TEXT NOT NULL)",
            f"INSERT INTO msglog_anchor VALUES (1, 0, '{_ZERO}', 0, '{_ZERO}')",  # noqa: S608 (a constant)
        ),
    ),
)


def latest_version() -> int:
    """The newest message log schema version this code knows."""
    return MIGRATIONS[-1].version


def plan(applied: Iterable[int]) -> list[Migration]:
    """The migrations still to apply, in order; :class:`SchemaError` when the database is ahead or has a gap."""
    done = set(applied)
    known = {m.version for m in MIGRATIONS}
    unknown = sorted(done - known)
    if unknown:
        raise SchemaError(
            "migrate",
            f"message log schema version(s) {unknown} unknown to this gateway (knows up to {latest_version()})",
        )
    todo = [m for m in MIGRATIONS if m.version not in done]
    if done and todo and todo[0].version < max(done):
        raise SchemaError("migrate", f"msglog_schema_migrations has a gap: version {todo[0].version} missing")
    return todo
