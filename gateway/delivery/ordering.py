"""Which outbox messages must reach a destination in order, and their place in that order: pure code.

README §5.2: a receiver that has accepted a higher ``seq`` for a case refuses a lower one (``RULE_VIOLATION``), so
one case's status events must reach each platform in ``seq`` order, and a case's own record must arrive before the
events and evaluations that refer to it. The outbox keeps an ordering key (the case number) and a position per
message; the store then claims a message only when every earlier one of its key to its destination is finished
(:mod:`gateway.store.transitions`). Different cases have different keys and go in parallel.

Positions, one integer line per case:

- a case record: ``CASE`` (0), before every status event; the documents do not order a case's versions among
  themselves (a receiver keys them by ``case_no`` + ``version`` and refuses none for being older, README §5.1, §9),
  so versions of one case still go in parallel;
- a status event, ``seq`` ``s`` (>= 1): ``s``;
- an evaluation: ``EVALUATION`` (after every status event the gateway holds for the case; an evaluation is about a
  case's outcome, 评价时办件状态).

Messages of other kinds, or records without a case number, are not ordered (key ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.model.records import Case, Evaluation, StatusEvent

__all__ = ["CASE", "EVALUATION", "OrderPlace", "order_of"]

#: the position of a case record: below every status event (``seq`` >= 1)
CASE: Final = 0
#: evaluations come after every status event
EVALUATION: Final = 2**62


@dataclass(frozen=True, slots=True)
class OrderPlace:
    """Where a message stands: ``key`` groups the messages kept in order (``None``: free), ``seq`` is its position."""

    key: str | None
    seq: int = 0


def order_of(record: object) -> OrderPlace:
    """The ordering key and position of a canonical record (see the module docstring)."""
    if isinstance(record, StatusEvent):
        return OrderPlace(record.case_no, record.seq)
    if isinstance(record, Case):
        return OrderPlace(record.case_no, CASE)
    if isinstance(record, Evaluation):
        return OrderPlace(record.case_no, EVALUATION)
    return OrderPlace(None)
