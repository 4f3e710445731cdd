"""The outbox's states and transitions, written once; both backends build their state conditions from this table.

STYLE lesson 16 (h11's ``_state.py``): a message's life is a small state machine, so it is a table here. The outbox
statements both stores run (:mod:`._sql`) take their source states (:func:`sources_sql`) and target states from
this table; the backends spell no state at all (tests/store/test_transition_table_only.py). A backend test walks
every transition on both stores.

=============  ==========================================  ============  ====================================
transition     from                                        to            who, and the extra condition
=============  ==========================================  ============  ====================================
accept         (new row)                                   pending       intake, with the inbound record
claim          pending (due), delivering (lease expired)   delivering    a worker; no earlier message of the
                                                                         same order key held (``HOLDING``)
renew          delivering                                  delivering    the lease owner, while it sends
deliver        delivering                                  delivered     the lease owner
retry          delivering                                  pending       the lease owner (or a hand-back)
dead_letter    delivering                                  dead          the lease owner (refused, failed)
expire         pending, delivering (lease expired)         dead          a worker, past ``max_age``, whatever
                                                                         the breaker says (``DELIVERY_EXPIRED``)
replay         dead                                        pending       an operator: fresh schedule
discard        dead                                        (deleted)     an operator
purge          delivered                                   (deleted)     housekeeping
=============  ==========================================  ============  ====================================

Rules for editing: a new transition is a new row in ``TRANSITIONS`` (and in the table above), a statement in
:mod:`._sql` built from that row, and a method of :class:`~.api.Outbox` that both backends implement with it;
tests/store/test_outbox_ordering.py walks every row on both backends and fails on a row it does not know.

Ordering (README §5.2): a message with an ``order_key`` (a case number) waits while any message to the same
destination with the same key and a lower ``order_seq`` is in a ``HOLDING`` state. ``dead`` holds too: a dead
status event must not be overtaken (the receiver would then refuse it for ever, README §5.2 ``RULE_VIOLATION``),
so its successors wait until an operator replays it (they follow it in order) or discards it (they go on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .api import DEAD, DELIVERED, DELIVERING, PENDING

__all__ = ["HOLDING", "TRANSITIONS", "Transition", "holding_sql", "sources_sql"]


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move: from any of ``sources`` to ``target`` (``None``: the row is deleted)."""

    name: str
    sources: tuple[str, ...]
    target: str | None
    owner_only: bool  # only the current lease owner may make it


TRANSITIONS: Final[dict[str, Transition]] = {
    t.name: t
    for t in (
        Transition("claim", (PENDING, DELIVERING), DELIVERING, owner_only=False),
        Transition("renew", (DELIVERING,), DELIVERING, owner_only=True),
        Transition("deliver", (DELIVERING,), DELIVERED, owner_only=True),
        Transition("retry", (DELIVERING,), PENDING, owner_only=True),
        Transition("dead_letter", (DELIVERING,), DEAD, owner_only=True),
        Transition("expire", (PENDING, DELIVERING), DEAD, owner_only=False),
        Transition("replay", (DEAD,), PENDING, owner_only=False),
        Transition("discard", (DEAD,), None, owner_only=False),
        Transition("purge", (DELIVERED,), None, owner_only=False),
    )
}

#: States of an earlier message (same destination and order key) that keep its successors from being claimed.
HOLDING: Final = (PENDING, DELIVERING, DEAD)


def _in(states: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def sources_sql(name: str) -> str:
    """``('pending', 'delivering')``-like SQL for the source states of transition ``name``."""
    return _in(TRANSITIONS[name].sources)


def holding_sql() -> str:
    """SQL list of the states that hold an ordered message's successors back."""
    return _in(HOLDING)
