"""The store's SQL, written once with ``?`` placeholders for both backends (:func:`numbered` renders ``$n``).

Why one module: the two backends used to spell the same statements twice, and each spelled the outbox's states
itself. Here every outbox statement takes its source and target states from :mod:`.transitions`, so the backends
(which hold no state name at all; a test checks) cannot drift from the table. What really differs stays in the
backend: SQLite's ``json_each`` against PostgreSQL's arrays, the claim's ``UNION ALL`` against
``FOR UPDATE SKIP LOCKED``, ``MAX`` against ``GREATEST``.

Parameters come in the order the ``?`` appear. SQL is assembled from module constants only, never from caller data
(hence the S608 noqa).
"""

from __future__ import annotations

import re
from typing import Final

from ._rows import INBOUND_COLUMNS, OUTBOX_COLUMNS
from .api import DELIVERED, DELIVERING, PENDING, STATES
from .transitions import TRANSITIONS, holding_sql, sources_sql

__all__ = [
    "CLAIM_SET",
    "COLS",
    "DEAD_LETTER",
    "DISCARD",
    "EXPIRE",
    "FOLLOWERS",
    "FORGET_NONCE",
    "GET_CHECKPOINT",
    "GET_MESSAGE",
    "GET_OPERATOR",
    "GET_RECEIPT",
    "HOLD",
    "INSERT_INBOUND",
    "INSERT_OUTBOX",
    "LEASE_EXPIRED",
    "LIST_OPERATORS",
    "MARK_DELIVERED",
    "PURGE_DELIVERED",
    "PURGE_NONCES",
    "PUT_CHECKPOINT",
    "PUT_OPERATOR",
    "RECEIPT",
    "RELEASE_CLAIMS",
    "REMEMBER_NONCE",
    "RENEW_LEASE",
    "RETRY_DEAD",
    "SCHEDULE_RETRY",
    "SPEND_SINGLE_USE",
    "STATS",
    "check_claim",
    "check_listing",
    "claim_postgres",
    "claim_sqlite",
    "claimable",
    "held_update",
    "list_messages",
    "numbered",
    "prefix_end",
]

COLS: Final = ", ".join(OUTBOX_COLUMNS)
_INBOUND: Final = ", ".join(INBOUND_COLUMNS)


def _target(name: str) -> str:
    target = TRANSITIONS[name].target
    if target is None:
        raise ValueError(f"transition {name!r} deletes the row; it has no target state")
    return f"'{target}'"


# --- inbound records --------------------------------------------------------------------------------------------
INSERT_INBOUND: Final = (
    f"INSERT INTO inbound ({_INBOUND}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, idem_key) DO NOTHING"  # noqa: S608
)
RECEIPT: Final = "SELECT receipt, receipt_type FROM inbound WHERE kind = ? AND idem_key = ?"
GET_RECEIPT: Final = f"SELECT {_INBOUND} FROM inbound WHERE kind = ? AND idem_key = ?"  # noqa: S608


def prefix_end(key_prefix: str) -> str:
    """The smallest key after every key starting with ``key_prefix``: ``latest_source`` reads the primary key's range
    ``[key_prefix, prefix_end)`` instead of a ``LIKE``, so the index serves it."""
    return key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1) if key_prefix else "\uffff"


# --- the outbox -----------------------------------------------------------------------------------------------------
INSERT_OUTBOX: Final = f"INSERT INTO outbox ({COLS}) VALUES ({', '.join('?' * len(OUTBOX_COLUMNS))})"  # noqa: S608
#: A row of ``o`` is held back while an earlier message of its order key to its destination is not finished.
HOLD: Final = (
    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination"  # noqa: S608
    f" AND p.order_key = o.order_key AND p.order_seq < o.order_seq AND p.state IN {holding_sql()})"
)
#: What ``claim`` does to a row (parameters: owner, lease end).
CLAIM_SET: Final = f"state = {_target('claim')}, lease_owner = ?, lease_until = ?, attempts = attempts + 1"
#: A claimable row of ``o`` in each of the claim's source states (parameter: now).
_CLAIMABLE: Final = {PENDING: "o.next_attempt_at <= ?", DELIVERING: "o.lease_until <= ?"}
if set(_CLAIMABLE) != set(TRANSITIONS["claim"].sources):
    raise RuntimeError("the claim's conditions must cover exactly its source states (transitions.py)")
#: A delivery in progress whose lease ran out by ``?``: claimable, and unclaimed for ``expire``.
LEASE_EXPIRED: Final = f"state = '{DELIVERING}' AND lease_until <= ?"


def claimable(destination: bool) -> list[str]:
    """One condition on ``o`` per source state of ``claim``: in that state, due, and not held back by its order.

    Each takes the parameters ``now`` (then ``destination`` when asked for); a backend ORs them, or (SQLite) runs
    them as the halves of a ``UNION ALL`` so that each uses its partial index.
    """
    dest = " AND o.destination = ?" if destination else ""
    return [f"o.state = '{state}' AND {_CLAIMABLE[state]}{dest}{HOLD}" for state in TRANSITIONS["claim"].sources]


def claim_sqlite(destination: bool) -> str:
    """SQLite's claim (parameters: owner, lease end, then per half ``now`` [, destination], limit; then limit).

    Why a LIMIT inside each half: each half then walks its partial index (``outbox_due``, ``outbox_leased``) and stops
    after ``limit`` claimable rows, so a claim costs the same with 300 or 10,000 due messages (measured in
    ``bench/store_claim.py``); the outer ORDER BY and LIMIT sort at most twice ``limit`` rows. A half's first
    ``limit`` rows in order include every row of it that the global first ``limit`` holds, so the claimed set is
    the one a single sort of the whole backlog would give. SQLite takes ORDER BY and LIMIT in a compound SELECT's
    member only inside a subquery, hence the ``SELECT * FROM (...)`` around each.
    """
    halves = " UNION ALL ".join(
        f"SELECT * FROM (SELECT o.id, o.next_attempt_at FROM outbox o WHERE {c}"  # noqa: S608
        " ORDER BY o.next_attempt_at, o.id LIMIT ?)"
        for c in claimable(destination)
    )
    return (
        f"UPDATE outbox SET {CLAIM_SET} WHERE id IN (SELECT id FROM ({halves})"  # noqa: S608
        f" ORDER BY next_attempt_at, id LIMIT ?) RETURNING {COLS}"
    )


def claim_postgres(destination: bool) -> str:
    """PostgreSQL's claim, numbered (parameters: per half ``now`` [, destination], limit; then limit, owner, lease end).

    Why each half locks its own rows (``FOR UPDATE OF o SKIP LOCKED`` under its own LIMIT, in its own CTE because
    PostgreSQL refuses FOR UPDATE in a member of a UNION): an OR of the two states
    made the planner read both partial indexes as bitmaps and sort every due row before the LIMIT; each half alone
    walks its index in order and stops at ``limit`` unlocked claimable rows, and a row another claimer holds is
    skipped as before. A half may lock up to ``limit`` rows that the outer LIMIT then leaves unclaimed; they are
    released at the end of this one statement (the leased half is almost always empty). Why ``= ANY (ARRAY (...))``
    and not ``FROM due``: with the join the planner hashed ``due`` and scanned the whole outbox; the array makes it
    look the claimed ids up in the primary key.
    """
    halves = [
        f"half{i} AS (SELECT o.id, o.next_attempt_at FROM outbox o WHERE {c}"  # noqa: S608
        " ORDER BY o.next_attempt_at, o.id LIMIT ? FOR UPDATE OF o SKIP LOCKED)"
        for i, c in enumerate(claimable(destination))
    ]
    union = " UNION ALL ".join(f"SELECT * FROM half{i}" for i in range(len(halves)))  # noqa: S608
    returning = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS)
    return numbered(
        f"WITH {', '.join(halves)}, due AS (SELECT id FROM ({union}) AS halves"  # noqa: S608
        " ORDER BY next_attempt_at, id LIMIT ?)"
        f" UPDATE outbox AS o SET {CLAIM_SET} WHERE o.id = ANY (ARRAY (SELECT id FROM due)) RETURNING {returning}"
    )


RENEW_LEASE: Final = (
    f"UPDATE outbox SET lease_until = ? WHERE id = ? AND state IN {sources_sql('renew')}"  # noqa: S608
    " AND lease_owner = ?"
)
EXPIRE: Final = (
    f"UPDATE outbox SET state = {_target('expire')}, last_error_code = ?, last_error = ?,"  # noqa: S608
    " lease_owner = NULL, lease_until = NULL WHERE destination = ?"
    f" AND state IN {sources_sql('expire')} AND COALESCE(schedule_start, created_at) <= ?"
    f" AND (state = '{PENDING}' OR {LEASE_EXPIRED}) RETURNING {COLS}"
)


def held_update(name: str, assignments: str) -> str:
    """Transition ``name`` made by the lease holder only (recording an outcome ends the lease); the parameters of
    ``assignments`` come first, then the message id and the owner."""
    return (
        f"UPDATE outbox SET state = {_target(name)}, {assignments}, lease_owner = NULL, lease_until = NULL"  # noqa: S608
        f" WHERE id = ? AND state IN {sources_sql(name)} AND lease_owner = ?"
    )


#: The lease holder's outcomes (parameters: the assignments', then id and owner).
MARK_DELIVERED: Final = held_update("deliver", "delivery_receipt = ?, delivered_at = ?")
SCHEDULE_RETRY: Final = held_update("retry", "next_attempt_at = ?, last_error_code = ?, last_error = ?")
DEAD_LETTER: Final = held_update("dead_letter", "last_error_code = ?, last_error = ?")
#: Hand back everything an owner holds (the ``retry`` transition, due at once): now, error code, error, owner.
RELEASE_CLAIMS: Final = (
    f"UPDATE outbox SET state = {_target('retry')}, next_attempt_at = ?, last_error_code = ?, last_error = ?,"  # noqa: S608
    f" lease_owner = NULL, lease_until = NULL WHERE state IN {sources_sql('retry')} AND lease_owner = ?"
)
GET_MESSAGE: Final = f"SELECT {COLS} FROM outbox WHERE id = ?"  # noqa: S608
RETRY_DEAD: Final = (
    f"UPDATE outbox SET state = {_target('replay')}, attempts = 0, next_attempt_at = ?, schedule_start = ?"  # noqa: S608
    f" WHERE id = ? AND state IN {sources_sql('replay')}"
)
FOLLOWERS: Final = (
    f"SELECT {', '.join('p.' + c for c in OUTBOX_COLUMNS)} FROM outbox o JOIN outbox p"  # noqa: S608
    " ON p.destination = o.destination AND p.order_key = o.order_key AND p.order_seq > o.order_seq"
    f" WHERE o.id = ? AND p.state != '{DELIVERED}' ORDER BY p.order_seq, p.created_at, p.id"
)
DISCARD: Final = f"DELETE FROM outbox WHERE id = ? AND state IN {sources_sql('discard')}"  # noqa: S608
PURGE_DELIVERED: Final = f"DELETE FROM outbox WHERE state IN {sources_sql('purge')} AND delivered_at < ?"  # noqa: S608
STATS: Final = (
    "SELECT destination, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox GROUP BY destination, state"
)


def check_claim(limit: int, lease_seconds: float) -> None:
    """Refuse a claim that could never lease anything, or would lease for no time."""
    if limit < 1 or lease_seconds <= 0:
        raise ValueError(f"claim_due needs limit >= 1 and lease_seconds > 0, got {limit!r}, {lease_seconds!r}")


def check_listing(state: str | None, limit: int, offset: int) -> None:
    """Refuse a listing of a state that does not exist or a negative window (an operator's typo, not an empty page)."""
    if state is not None and state not in STATES:
        raise ValueError(f"state must be one of {sorted(STATES)} or None, got {state!r}")
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be >= 0, got {limit!r}, {offset!r}")


def list_messages(state: str | None, destination: str | None) -> tuple[str, list[str]]:
    """The listing's statement and its filter parameters (then ``limit`` and ``offset``), oldest first."""
    conditions = ["1 = 1"]
    params: list[str] = []
    for column, value in (("state", state), ("destination", destination)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    where = " AND ".join(conditions)
    return f"SELECT {COLS} FROM outbox WHERE {where} ORDER BY created_at, id LIMIT ? OFFSET ?", params  # noqa: S608


# --- nonces, sync state, operators ----------------------------------------------------------------------------------
REMEMBER_NONCE: Final = (
    "INSERT INTO nonces (scope, nonce, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = excluded.expires_at"
    " WHERE nonces.expires_at <= ? RETURNING 1"
)
FORGET_NONCE: Final = "DELETE FROM nonces WHERE scope = ? AND nonce = ?"
PURGE_NONCES: Final = "DELETE FROM nonces WHERE expires_at <= ?"
GET_CHECKPOINT: Final = "SELECT value FROM checkpoints WHERE job = ?"
PUT_CHECKPOINT: Final = (
    "INSERT INTO checkpoints (job, value) VALUES (?, ?) ON CONFLICT (job) DO UPDATE SET value = excluded.value"
)
PUT_OPERATOR: Final = (
    "INSERT INTO console_operators (name, role, password_hash, created_at, single_use) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,"
    " created_at = excluded.created_at, single_use = excluded.single_use"
)
_OPERATOR: Final = "SELECT name, role, password_hash, created_at, single_use FROM console_operators"
GET_OPERATOR: Final = _OPERATOR + " WHERE name = ?"
LIST_OPERATORS: Final = _OPERATOR + " ORDER BY name"
SPEND_SINGLE_USE: Final = (
    "UPDATE console_operators SET password_hash = '!spent' WHERE name = ? AND single_use = 1 AND password_hash = ?"
)

_PLACEHOLDER: Final = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no statement here has a ``?`` inside a literal)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
