"""The outbox's states are spelt in one place: the backends take every state from the transition table.

STYLE lesson 16: a backend that writes ``state = 'dead'`` itself can drift from ``gateway.store.transitions``
without any test noticing until the two stores behave differently. The backends hold no state name at all; the
shared statements (``gateway.store._sql``) build theirs from the table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.store import _sql, postgres, sqlite
from gateway.store.api import STATES
from gateway.store.transitions import TRANSITIONS


@pytest.mark.parametrize("module", [sqlite, postgres], ids=["sqlite", "postgres"])
def test_a_backend_spells_no_outbox_state(module: object) -> None:
    text = Path(str(module.__file__)).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    spelt = sorted(state for state in STATES if re.search(rf"""['"]{state}['"]""", text))
    assert spelt == [], f"{module.__name__} spells outbox states itself: {spelt}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "statement"),
    [
        ("deliver", _sql.MARK_DELIVERED),
        ("retry", _sql.SCHEDULE_RETRY),
        ("dead_letter", _sql.DEAD_LETTER),
        ("retry", _sql.RELEASE_CLAIMS),
        ("expire", _sql.EXPIRE),
        ("replay", _sql.RETRY_DEAD),
        ("claim", _sql.CLAIM_SET),
    ],
)
def test_each_update_moves_to_its_transitions_target_from_its_sources(name: str, statement: str) -> None:
    transition = TRANSITIONS[name]
    assert f"state = '{transition.target}'" in statement
    if name != "claim":  # the claim's sources are its conditions, checked below
        assert "state IN (" + ", ".join(f"'{s}'" for s in transition.sources) + ")" in statement


def test_the_claim_has_one_condition_per_source_state() -> None:
    for destination in (False, True):
        conditions = _sql.claimable(destination)
        assert [c.split("'")[1] for c in conditions] == list(TRANSITIONS["claim"].sources)


@pytest.mark.parametrize("name", ["discard", "purge"])
def test_deletions_start_only_from_their_sources(name: str) -> None:
    statement = _sql.DISCARD if name == "discard" else _sql.PURGE_DELIVERED
    assert TRANSITIONS[name].target is None
    assert "state IN (" + ", ".join(f"'{s}'" for s in TRANSITIONS[name].sources) + ")" in statement
