"""Property: whatever the interleaving of status events, platform faults and worker crashes, every case's status
events reach the platform in ``seq`` order and none is lost (README §5.2: a receiver refuses a lower ``seq`` once it
has a higher one, so one overtaking would lose the earlier event for good).

Real parts: the gateway's store (SQLite file, PostgreSQL schema), the loopback simulators with their fault plans
and seq rule, two delivery workers sharing the store, crashed by cancelling everything they have in flight. Short
here (a handful of examples per backend); bench/status_chains.py runs the long version.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipeline_stack import start_stack
from status_chains import CHAIN_CONFIG, Scenario, Step, run_scenario

steps = st.one_of(
    st.builds(Step, st.just("submit"), st.integers(0, 3)),
    st.builds(Step, st.just("fault"), st.integers(0, 3)),
    st.builds(Step, st.just("kill"), st.integers(0, 1)),
    st.builds(Step, st.just("pause"), st.integers(0, 250)),
)
scenarios = st.builds(
    Scenario,
    st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    st.lists(steps, min_size=1, max_size=12).filter(lambda s: sum(x.op == "kill" for x in s) <= 2).map(tuple),
)


def test_status_chains_arrive_in_seq_order_and_complete(dev_folder: Path, samples_dir: Path, store_url: str) -> None:
    loop = asyncio.new_event_loop()
    stack = loop.run_until_complete(start_stack(dev_folder, store_url, extra=CHAIN_CONFIG, run_workers=False))
    try:

        @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
        @given(scenarios)
        def check(scenario: Scenario) -> None:
            outcome = loop.run_until_complete(run_scenario(stack, samples_dir, scenario))
            assert outcome.undelivered == []  # none dead, none left behind
            assert outcome.seen == outcome.expected  # each case's events once each, in seq order

        check()
    finally:
        loop.run_until_complete(stack.close())
        loop.close()
