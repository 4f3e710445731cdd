"""Versioned schema migrations: pure data plus the planning rule, no driver code.

Why data: both backends must hold the same logical schema, so each migration is written once with
type placeholders (``{real}``, ``{blob}``, ``{bigint}``, ``{binary}``) rendered per dialect; each backend runs
:meth:`SchemaHistory.plan` inside one locked transaction at open (:mod:`gateway.store.migrate`) and records what
it applied in the history's version table (``schema_migrations`` here; the message log keeps its own history).
Opening twice, or from two instances at once, applies nothing the second time.

Rules for editing this file:

- Never change or remove a published migration; append a new one with the next version.
- Keep statements portable between SQLite (>= 3.35) and PostgreSQL (>= 12): only the placeholders
  (types, and ``{binary}``, the byte-order collation) may differ. One statement per list entry, no trailing ``;``.
- Times are Unix seconds (``{real}``); payloads and receipts are bytes (``{blob}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from .errors import SchemaError

__all__ = ["MIGRATIONS", "STORE_SCHEMA", "Dialect", "Migration", "SchemaHistory", "latest_version", "plan"]

Dialect = Literal["sqlite", "postgres"]

_TYPES: Final[dict[str, dict[str, str]]] = {
    "sqlite": {"real": "REAL", "blob": "BLOB", "bigint": "INTEGER", "binary": "BINARY"},
    "postgres": {"real": "DOUBLE PRECISION", "blob": "BYTEA", "bigint": "BIGINT", "binary": '"C"'},
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: a version number, a name for the version table and its statements."""

    version: int
    name: str
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> list[str]:
        """The statements with the type placeholders filled in for ``dialect``."""
        types = _TYPES[dialect]
        return [statement.format(**types) for statement in self.statements]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "inbound idempotency records and the outbox",
        (
            "CREATE TABLE inbound ("
            " kind TEXT NOT NULL,"
            " idem_key TEXT NOT NULL,"
            " source TEXT NOT NULL,"
            " received_at {real} NOT NULL,"
            " receipt {blob} NOT NULL,"
            " receipt_type TEXT NOT NULL,"
            " PRIMARY KEY (kind, idem_key))",
            "CREATE TABLE outbox ("
            " id TEXT PRIMARY KEY,"
            " destination TEXT NOT NULL,"
            " kind TEXT NOT NULL,"
            " idem_key TEXT NOT NULL,"
            " message_id TEXT NOT NULL,"
            " payload {blob} NOT NULL,"
            " created_at {real} NOT NULL,"
            " next_attempt_at {real} NOT NULL,"
            " attempts {bigint} NOT NULL DEFAULT 0,"
            " state TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'dead')),"
            " last_error_code TEXT,"
            " last_error TEXT,"
            " lease_owner TEXT,"
            " lease_until {real},"
            " delivered_at {real},"
            " delivery_receipt {blob})",
            # claim_due reads these two partial indexes only.
            "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending'",
            "CREATE INDEX outbox_leased ON outbox (lease_until) WHERE state = 'delivering'",
            # operator listing and per-destination stats
            "CREATE INDEX outbox_destination_state ON outbox (destination, state, created_at)",
            "CREATE INDEX outbox_created ON outbox (created_at, id)",
        ),
    ),
    Migration(
        2,
        "replay nonces and status sequence guard",
        (
            "CREATE TABLE nonces ("
            " scope TEXT NOT NULL,"
            " nonce TEXT NOT NULL,"
            " expires_at {real} NOT NULL,"
            " PRIMARY KEY (scope, nonce))",
            "CREATE INDEX nonces_expiry ON nonces (expires_at)",
            "CREATE TABLE case_seq (case_no TEXT PRIMARY KEY, max_seq {bigint} NOT NULL)",
        ),
    ),
    Migration(
        3,
        "catalogue sync hashes and checkpoints",
        (
            "CREATE TABLE item_hashes ("
            " source TEXT NOT NULL,"
            " item_key TEXT NOT NULL,"
            " hash TEXT NOT NULL,"
            " PRIMARY KEY (source, item_key))",
            "CREATE TABLE checkpoints (job TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        4,
        "byte-ordered key index for prefix lookups (a status event's case origin)",
        ("CREATE INDEX inbound_key_binary ON inbound (kind, idem_key COLLATE {binary}, received_at)",),
    ),
    Migration(
        5,
        "the submission's request id and W3C traceparent on its outbox messages (delivery log lines carry them)",
        ("ALTER TABLE outbox ADD COLUMN request_id TEXT", "ALTER TABLE outbox ADD COLUMN traceparent TEXT"),
    ),
    Migration(
        6,
        "retention: idempotency records purged by sender and age",
        ("CREATE INDEX inbound_source_received ON inbound (source, received_at)",),
    ),
    Migration(
        7,
        "outbox ordering key and position (a case's events in order), and the start of a message's schedule",
        (
            "ALTER TABLE outbox ADD COLUMN order_key TEXT",
            "ALTER TABLE outbox ADD COLUMN order_seq {bigint} NOT NULL DEFAULT 0",
            "ALTER TABLE outbox ADD COLUMN schedule_start {real}",
            "UPDATE outbox SET schedule_start = created_at",
            # claim_due's predecessor check and followers() read this index
            "CREATE INDEX outbox_order ON outbox (destination, order_key, order_seq) WHERE order_key IS NOT NULL",
        ),
    ),
    Migration(
        8,
        "operator accounts of the browser console (argon2 password hashes)",
        (
            "CREATE TABLE console_operators ("
            " name TEXT PRIMARY KEY,"
            " role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),"
            " password_hash TEXT NOT NULL,"
            " created_at {real} NOT NULL,"
            " single_use {bigint} NOT NULL DEFAULT 0)",
        ),
    ),
    Migration(
        9,
        "delivery attempts of outbox messages (the console's per-attempt history)",
        (
            "CREATE TABLE delivery_attempts ("
            " outbox_id TEXT NOT NULL,"
            " attempt {bigint} NOT NULL,"
            " at {real} NOT NULL,"
            " outcome TEXT NOT NULL,"
            " code TEXT,"
            " latency {real} NOT NULL,"
            " PRIMARY KEY (outbox_id, attempt, at))",
        ),
    ),
    Migration(
        10,
        "console sessions shared by every instance on the store (the token's SHA-256 only)",
        (
            "CREATE TABLE console_sessions ("
            " token_sha256 TEXT PRIMARY KEY,"
            " name TEXT NOT NULL,"
            " role TEXT NOT NULL,"
            " csrf TEXT NOT NULL,"
            " lang TEXT NOT NULL,"
            " last_seen {real} NOT NULL)",
            "CREATE INDEX console_sessions_seen ON console_sessions (last_seen)",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class SchemaHistory:
    """A numbered list of migrations with its own version table: the store's, or the message log's."""

    what: str  # names the schema in errors: "database", "message log"
    version_table: str
    migrations: tuple[Migration, ...]
    lock_name: str  # PostgreSQL advisory lock taken while migrating, with the schema name appended

    def create_version_table(self) -> str:
        """The bookkeeping table; created before anything else, outside the numbered migrations."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.version_table} ("
            " version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )

    def latest_version(self) -> int:
        """The newest schema version this code knows."""
        return self.migrations[-1].version

    def plan(self, applied: Iterable[int]) -> list[Migration]:
        """The migrations still to apply, in order, given the versions already recorded.

        Raises :class:`SchemaError` when the database is ahead of this code (an older gateway must not
        write into a newer schema) or has a gap (a damaged or hand-edited version table).
        """
        done = set(applied)
        known = {m.version for m in self.migrations}
        unknown = sorted(done - known)
        if unknown:
            raise SchemaError(
                "migrate",
                f"{self.what} has schema version(s) {unknown} unknown to this gateway (knows up to "
                f"{self.latest_version()}); run a newer gateway or restore the database",
            )
        todo = [m for m in self.migrations if m.version not in done]
        if done and todo and todo[0].version < max(done):
            raise SchemaError(
                "migrate",
                f"{self.version_table} has a gap: version {todo[0].version} missing below {max(done)}",
            )
        return todo


STORE_SCHEMA: Final = SchemaHistory("database", "schema_migrations", MIGRATIONS, "tongban-store:")
latest_version = STORE_SCHEMA.latest_version
plan = STORE_SCHEMA.plan
