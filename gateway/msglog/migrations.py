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

from typing import Final

from gateway.store.migrations import Migration, SchemaHistory

__all__ = ["MIGRATIONS", "MSGLOG_SCHEMA"]

_ZERO: Final = "0" * 64
# A seal's columns up to its signature, shared by the seals and by the cuts that keep the last removed seal (the
# statements are byte for byte what migrations 1 and 2 were published with: tests/msglog checks it).
_SEAL_COLUMNS: Final = (
    " seal_no {bigint} PRIMARY KEY,"
    " first_seq {bigint} NOT NULL,"
    " last_seq {bigint} NOT NULL,"
    " last_entry_hash TEXT NOT NULL,"
    " prev_seal_hash TEXT NOT NULL,"
    " at_us {bigint} NOT NULL,"
    " kid TEXT NOT NULL,"
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
            "CREATE TABLE msglog_seals (" + _SEAL_COLUMNS + " signature TEXT NOT NULL, seal_hash TEXT NOT NULL)",
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
    Migration(
        2,
        "retention cuts: the seal each cut removed last, signature and all",
        (
            # The anchor alone is four unsigned values: with this row, verification re-checks the gateway's
            # signature over the last removed seal, so the anchor cannot be moved to a seal that does not exist,
            # and a cut made before the retention period ended shows (the seal's time is signed).
            "CREATE TABLE msglog_cuts (" + _SEAL_COLUMNS + " signature TEXT, seal_hash TEXT NOT NULL)",
            # a cut made by an older build left only the anchor: recorded without a signature (nothing to check)
            "INSERT INTO msglog_cuts SELECT seal_no, 0, seq, entry_hash, '', 0, '', NULL, seal_hash"
            " FROM msglog_anchor WHERE seal_no > 0",
        ),
    ),
)


MSGLOG_SCHEMA: Final = SchemaHistory("message log", "msglog_schema_migrations", MIGRATIONS, "tongban-msglog:")
