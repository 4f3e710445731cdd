"""Status chains, the long run: many random interleavings of status events, platform faults and worker crashes.

The same scenario runner as the property test (tests/pipeline/status_chains.py: real store, loopback simulators, two
delivery workers, crashes by cancelling everything a worker has in flight), with longer chains, more cases, more
steps and more crashes per scenario, drawn from a seeded random source. For each store it prints the scenarios run,
the status events sent, crashes, events lost (not delivered, or dead) and events out of ``seq`` order at the
platform; both must be 0. Exit status 1 when any scenario lost or reordered an event.

Run: ``.venv/bin/python bench/status_chains.py [--scenarios 30] [--seed 1] [--store sqlite,postgres]``. A scenario
takes a few seconds (each crash leaves leases of 1 s to run out).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "pipeline"))

from pg_support import drop_schema, find_pg_dsn  # noqa: E402
from pipeline_stack import _config, start_stack  # noqa: E402
from status_chains import CHAIN_CONFIG, Scenario, Step, run_scenario  # noqa: E402

from gateway.links import dev_link_settings  # noqa: E402


def draw(rng: random.Random) -> Scenario:
    """A long scenario: up to 6 cases of up to 8 events, up to 60 steps, up to 6 crashes."""
    chains = tuple(rng.randint(1, 8) for _ in range(rng.randint(1, 6)))
    steps: list[Step] = []
    kills = 0
    for _ in range(rng.randint(5, 60)):
        op = rng.choices(["submit", "fault", "kill", "pause"], weights=[6, 2, 1 if kills < 6 else 0, 2])[0]
        kills += op == "kill"
        arg = {"submit": rng.randint(0, 5), "fault": rng.randint(0, 3), "kill": rng.randint(0, 1),
               "pause": rng.randint(0, 400)}[op]  # fmt: skip
        steps.append(Step(op, arg))
    return Scenario(chains, tuple(steps))


def out_of_order(seen: dict[str, list[int]]) -> int:
    return sum(1 for seqs in seen.values() for a, b in itertools.pairwise(seqs) if b <= a)


async def run_store(name: str, url: str, dev: Path, samples: Path, scenarios: int, seed: int) -> bool:
    rng = random.Random(seed)
    stack = await start_stack(dev, url, extra=CHAIN_CONFIG, run_workers=False)
    events = lost = reordered = kills = 0
    started = time.monotonic()
    try:
        for _ in range(scenarios):
            scenario = draw(rng)
            outcome = await run_scenario(stack, samples, scenario, timeout=120)
            events += sum(scenario.chains)
            kills += outcome.kills
            delivered = {(c, s) for c, seqs in outcome.seen.items() for s in seqs}
            lost += sum(1 for c, seqs in outcome.expected.items() for s in seqs if (c, s) not in delivered)
            lost += len(outcome.undelivered)
            reordered += out_of_order(outcome.seen)
    finally:
        await stack.close()
    print(f"{name:9} scenarios {scenarios:4}  events {events:5}  crashes {kills:4}  lost {lost}  "
          f"out of order {reordered}  ({time.monotonic() - started:.0f} s)")  # fmt: skip
    return lost == 0 and reordered == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", default="sqlite,postgres")
    args = parser.parse_args()
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the simulators' dropped connections, by design
    logging.getLogger("gateway").setLevel(logging.ERROR)  # lost leases after crashes are expected here
    samples = (REPO / "tests" / "data" / "platforms" / "samples").resolve()  # the carried copy, as tests/conftest.py
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        dev = Path(tmp) / "dev"
        dev.mkdir()
        dev_link_settings(dev, _config(dev, f"sqlite:///{tmp}/unused.db", {}).registry)
        for name in args.store.split(","):
            if name == "sqlite":
                ok &= asyncio.run(run_store(name, f"sqlite:///{tmp}/chains.db", dev, samples, args.scenarios,
                                            args.seed))  # fmt: skip
            elif name == "postgres":
                dsn = find_pg_dsn()
                if dsn is None:
                    print("postgres: no server answers at 127.0.0.1:5432; skipped")
                    ok = False
                    continue
                schema = f"chains_{uuid.uuid4().hex[:12]}"
                try:
                    ok &= asyncio.run(run_store(name, f"{dsn}?schema={schema}", dev, samples, args.scenarios,
                                                args.seed))  # fmt: skip
                finally:
                    drop_schema(dsn, schema)
            else:
                parser.error(f"unknown store {name!r}; use sqlite, postgres")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
