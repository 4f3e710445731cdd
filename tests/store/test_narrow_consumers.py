"""Each part that uses the store is typed against the concern it uses, not the whole store (issue 13 item 7).

What a signature names is what the part may touch: intake cannot claim deliveries, the worker cannot read receipts,
the sync cannot delete nonces. A widening back to ``Store`` fails here; mypy then keeps each body inside its
protocol. The backends and the sealed store implement every concern (``Store``, their union).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import pytest

from gateway.console.auth import SessionBook
from gateway.console.users import add_user
from gateway.pipeline import operator
from gateway.pipeline.intake import Intake
from gateway.pipeline.replay import StoreReplayGuard
from gateway.pipeline.worker import DeliveryWorker
from gateway.retention import RetainedStore, RetentionJob
from gateway.sealed_store import SealedStore
from gateway.server.operations import refresh_gauges
from gateway.store import PostgresStore, SQLiteStore
from gateway.store.api import (
    ConsoleSessions,
    IdempotencyRecords,
    Nonces,
    OperatorAccounts,
    Outbox,
    Store,
    SyncState,
)
from gateway.sync.engine import run_sync
from gateway.sync.status import read_statuses, write_status

CONSUMERS: list[tuple[Callable[..., Any], Any]] = [
    (Intake.__init__, IdempotencyRecords),
    (DeliveryWorker.__init__, Outbox),
    (StoreReplayGuard.__init__, Nonces),
    (operator.list_summaries, Outbox),
    (operator.retry, Outbox),
    (RetentionJob.__init__, RetainedStore),
    (run_sync, SyncState),
    (write_status, SyncState),
    (read_statuses, SyncState),
    (add_user, OperatorAccounts),
    (refresh_gauges, Outbox),
]


@pytest.mark.parametrize(("consumer", "concern"), CONSUMERS, ids=[c.__qualname__ for c, _ in CONSUMERS])
def test_a_consumer_names_its_concern_only(consumer: Callable[..., Any], concern: Any) -> None:
    assert typing.get_type_hints(consumer)["store"] is concern


def test_the_session_book_asks_for_sessions_only() -> None:
    hint = typing.get_type_hints(SessionBook.__init__)["store"]
    assert typing.get_args(hint) == ([], ConsoleSessions)


def test_retention_takes_exactly_the_concerns_it_deletes_from() -> None:
    assert set(RetainedStore.__mro__) >= {Outbox, IdempotencyRecords, Nonces}
    assert not set(RetainedStore.__mro__) & {SyncState, OperatorAccounts, ConsoleSessions, Store}


@pytest.mark.parametrize("implementation", [SQLiteStore, PostgresStore, SealedStore])
def test_every_implementation_serves_every_concern(implementation: type) -> None:
    for concern in (Outbox, IdempotencyRecords, Nonces, SyncState, OperatorAccounts, ConsoleSessions, Store):
        missing = [
            name
            for name, member in vars(concern).items()
            if callable(member) and not name.startswith("_") and not callable(getattr(implementation, name, None))
        ]
        assert missing == [], f"{implementation.__name__} lacks {concern.__name__}: {missing}"
