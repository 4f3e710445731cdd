"""Status chains under faults and crashes: the scenario runner shared by the property test and bench/status_chains.py.

A scenario is a few cases (each filed from ningbo, so their status events go back to ningbo) and a list of steps:
submit the next status event of a case (hefei sends it, signed, to the gateway), change ningbo's fault plan (503s,
dropped connections), crash one of the delivery workers mid-whatever (its tasks cancelled, its leases left to run
out, as after SIGKILL) and start a new one with a new owner, or pause. Two workers ("instances") share the store all
along. Afterwards the faults are cleared and the runner waits until the outbox has delivered everything; it reports
what ningbo's book saw per case, in the order it accepted it, and every message of the scenario that is not
delivered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline_stack import Stack, sample

from gateway.delivery import BreakerRegistry, BreakerSettings
from gateway.pipeline.worker import DeliveryWorker, WorkerSettings
from gateway.store.api import DELIVERED

__all__ = ["CHAIN_CONFIG", "Outcome", "Scenario", "Step", "run_scenario"]

#: the gateway settings for chains: short leases, so a crashed worker's claims come back within a second
LEASE = 1.0
CHAIN_CONFIG: dict[str, Any] = {"delivery": {"worker": {"poll_interval": 0.05, "lease_seconds": LEASE}}}


@dataclass(frozen=True, slots=True)
class Step:
    """``submit`` (case index), ``fault`` (0: none, 1: 503 half the time, 2: all 503, 3: connections dropped),
    ``kill`` (worker index), ``pause`` (milliseconds)."""

    op: str
    arg: int


@dataclass(frozen=True, slots=True)
class Scenario:
    chains: tuple[int, ...]  # status events per case
    steps: tuple[Step, ...]


@dataclass
class Outcome:
    seen: dict[str, list[int]] = field(default_factory=dict)  # case_no -> seqs in the order ningbo accepted them
    expected: dict[str, list[int]] = field(default_factory=dict)
    undelivered: list[tuple[str, str, str | None]] = field(default_factory=list)  # (idem_key, state, last error)
    kills: int = 0


FAULTS = (
    {"error_rate": 0.0, "drop_rate": 0.0},
    {"error_rate": 0.5, "drop_rate": 0.0},
    {"error_rate": 1.0, "drop_rate": 0.0},
    {"error_rate": 0.0, "drop_rate": 1.0},
)


class Instances:
    """Delivery workers sharing the stack's store and clients, each with its own owner and breakers."""

    def __init__(self, stack: Stack, count: int) -> None:
        self.stack = stack
        self.workers: list[tuple[DeliveryWorker, asyncio.Task[None]]] = [self._start() for _ in range(count)]

    def _start(self) -> tuple[DeliveryWorker, asyncio.Task[None]]:
        template: DeliveryWorker = self.stack.worker
        worker = DeliveryWorker(
            template.store, template.clients, owner=f"chain-{uuid.uuid4().hex[:8]}", clock=time.time,
            policies=template.policies, default_policy=template.default_policy,
            breakers=BreakerRegistry(BreakerSettings(consecutive_failures=3, cool_down=0.3), clock=time.time),
            settings=WorkerSettings(poll_interval=0.05, lease_seconds=LEASE),
        )  # fmt: skip
        return worker, asyncio.create_task(worker.run())

    async def crash(self, index: int) -> None:
        """Cancel a worker and everything it has in flight without recording anything, then start a new one."""
        worker, task = self.workers[index]
        doomed = [task, *worker._in_flight]  # a crash reaches into the process: nothing is called or recorded
        for t in doomed:
            t.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        self.workers[index] = self._start()

    async def stop(self) -> None:
        for worker, task in self.workers:
            await worker.stop()
            await task


async def run_scenario(stack: Stack, samples_dir: Path, scenario: Scenario, *, timeout: float = 40.0) -> Outcome:
    """Play ``scenario`` against ``stack`` (started with ``run_workers=False`` and ``CHAIN_CONFIG``)."""
    config, ningbo = stack.config, stack.sims["ningbo"]
    base_case = sample(config, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, 宣城 341800 → g60
    base_event = replace(sample(config, samples_dir, "anhui", "status", "SS002.json"), handling_region="341800")
    tag = uuid.uuid4().hex[:10].upper()
    cases = [f"CH{tag}{i:02d}" for i in range(len(scenario.chains))]
    out = Outcome(expected={c: list(range(1, n + 1)) for c, n in zip(cases, scenario.chains, strict=True)})
    for case_no in cases:
        await stack.partner_client("ningbo").submit("case", replace(base_case, case_no=case_no), f"m-{case_no}")
    hefei = stack.partner_client("hefei")
    sent = dict.fromkeys(cases, 0)

    async def submit(case_no: str) -> None:
        if sent[case_no] < len(out.expected[case_no]):
            sent[case_no] += 1
            event = replace(base_event, case_no=case_no, seq=sent[case_no])
            await hefei.submit("status", event, f"m-{case_no}-{sent[case_no]}")

    instances = Instances(stack, 2)
    try:
        for step in scenario.steps:
            if step.op == "submit":
                await submit(cases[step.arg % len(cases)])
            elif step.op == "fault":
                ningbo.plan.update(FAULTS[step.arg % len(FAULTS)])
            elif step.op == "kill":
                await instances.crash(step.arg % 2)
                out.kills += 1
            else:
                await asyncio.sleep(step.arg / 1000)
        for case_no in cases:  # every chain complete
            while sent[case_no] < len(out.expected[case_no]):
                await submit(case_no)
        ningbo.plan.update(FAULTS[0])
        total = sum(scenario.chains)
        deadline = time.monotonic() + timeout
        while True:
            messages = [m for m in await stack.store.list_messages(destination="ningbo", limit=10_000)
                        if m.kind == "status" and m.order_key in out.expected]  # fmt: skip
            done = [m for m in messages if m.state == DELIVERED]
            if len(done) == total or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        out.undelivered = [(m.idem_key, m.state, m.last_error_code) for m in messages if m.state != DELIVERED]
    finally:
        await instances.stop()
        ningbo.plan.update(FAULTS[0])
    for entry in ningbo.sim.book.snapshot("status"):
        record = entry["record"]
        if record["case_no"] in out.expected:
            out.seen.setdefault(record["case_no"], []).append(int(record["seq"]))
    return out
