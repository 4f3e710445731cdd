"""The pure parts of ordering and expiry: a record's place in its case's order, and max_age with a fake clock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.delivery import DELIVERY_EXPIRED, RetryPolicy, expired, expiry, expiry_cutoff, order_of
from gateway.delivery.ordering import CASE, EVALUATION


@pytest.fixture(scope="module")
def records(samples_dir: Path) -> dict[str, object]:
    adapter = load_config().registry.adapter("anhui")
    return {
        kind: adapter.decode(kind, (samples_dir / "anhui" / kind / name).read_bytes())
        for kind, name in (("case", "SC001.json"), ("status", "SS002.json"), ("evaluation", "SE001.json"))
    }


def test_a_case_comes_before_its_status_events_in_seq_order_and_evaluations_last(records: dict[str, object]) -> None:
    case, status, evaluation = records["case"], records["status"], records["evaluation"]
    places = [order_of(case), order_of(replace(status, seq=1)), order_of(replace(status, seq=7)),  # type: ignore[type-var]
              order_of(evaluation)]  # fmt: skip
    assert [p.seq for p in places] == [CASE, 1, 7, EVALUATION]
    assert places[0].key == case.case_no  # type: ignore[attr-defined]
    assert places[1].key == status.case_no  # type: ignore[attr-defined]
    assert places[3].key == evaluation.case_no  # type: ignore[attr-defined]
    # versions of one case are not ordered among themselves (the documents do not order them)
    assert order_of(replace(case, version=9)) == order_of(case)  # type: ignore[type-var]


def test_records_the_documents_do_not_order_have_no_key() -> None:
    assert order_of(object()).key is None


def test_expiry_counts_from_the_start_of_the_schedule_with_a_fake_clock() -> None:
    policy = RetryPolicy(max_age=15.0)
    started = 1000.0
    assert not expired(policy, started, 1014.9)
    assert expired(policy, started, 1015.0)
    assert expiry_cutoff(policy, 1015.0) == started
    assert expiry(policy).code == DELIVERY_EXPIRED
