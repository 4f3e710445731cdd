"""``gateway traffic``: signed submissions from chosen partners, at a chosen rate, to a running ``gateway serve``.

Each partner submits cases in its own dialect and signature scheme with the development credentials (``[dev]
credentials``, the same keys the running gateway trusts), as ``gateway demo`` does: the stream builder and the
partners' clients are the demo's (``gateway.demo``). Every run numbers its cases afresh (``DEMO<sender><run><n>``),
so a second run is new traffic, not repeats. Cases go round-robin over the partners, each to a region another
platform serves, at ``rate`` per second for ``duration`` seconds, at most ``concurrency`` in flight; then a summary
by partner and outcome. Exit status 0 when every submission was accepted, 1 otherwise (or when the gateway is not
there: the first failures say so).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from gateway.config import Config
from gateway.demo import Partners, demo_applicants, demo_case, run_token
from gateway.errors import ConfigError
from gateway.transport import AiohttpTransport

__all__ = ["TrafficPlan", "run_traffic"]

# Handling regions the default registry routes to different platforms (hefei, songjiang, ningbo, changsha, the g60
# hub for 苏州); a partner never sends a case to a region it serves itself.
REGIONS = ("340100", "310117", "330200", "430100", "320500")


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    partners: tuple[str, ...]
    rate: float  # submissions per second, all partners together
    duration: float  # seconds
    concurrency: int = 16
    gateway_url: str | None = None  # default: http://<server.host>:<server.port>
    tls_url: str | None = None  # default: https://<server.host>:<server.tls_port> (the g60 hub's mutual TLS)


def routes(config: Config, partners: Sequence[str]) -> dict[str, list[str]]:
    """For each partner, the regions its cases go to (served by another platform); refuses unusable partners."""
    registry = config.registry
    if config.dev_credentials is None:
        raise ConfigError(
            config.source,
            "dev.credentials",
            "traffic signs as the partners with development keys",
            'set [dev] credentials = "var/dev" (as the running gateway has)',
        )
    out: dict[str, list[str]] = {}
    for pid in partners:
        platform = registry.platforms.get(pid)
        if platform is None:
            raise ConfigError(
                "command line",
                "--partners",
                f"{pid!r} is not a configured platform",
                f"choose among {', '.join(registry.platforms)}",
            )
        if platform.record_types and "case" not in platform.record_types:
            raise ConfigError("command line", "--partners", f"{pid!r} does not submit cases")
        regions = [r for r in REGIONS if registry.serving_platform(r) not in (None, pid)]
        if not regions:
            raise ConfigError("command line", "--partners", f"no region served by another platform for {pid!r}")
        out[pid] = regions
    return out


async def _send(plan: TrafficPlan, partners: Partners, targets: dict[str, list[str]], out: TextIO) -> None:
    run = run_token()
    person, company = demo_applicants()
    total = max(1, round(plan.rate * plan.duration))
    senders = itertools.cycle(plan.partners)
    turns = {pid: itertools.cycle(regions) for pid, regions in targets.items()}
    slots = asyncio.Semaphore(plan.concurrency)
    tasks: set[asyncio.Task[str]] = set()
    start = time.monotonic()
    print(f"traffic run {run}: {total} cases from {', '.join(plan.partners)} to {partners.gateway_url}", file=out)

    async def one(sender: str, case_n: int) -> str:
        try:
            case = demo_case(run, case_n, sender[:2].upper(), next(turns[sender]), person if case_n % 2 else company)
            return await partners.submit(sender, "case", case)
        finally:
            slots.release()

    for n in range(1, total + 1):
        due = start + (n - 1) / plan.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        task = asyncio.create_task(one(next(senders), n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    print(f"sent {total} in {elapsed:.1f} s", file=out)


def _summary(partners: Partners, out: TextIO) -> bool:
    print(f"{'sender':10} {'outcome':40} {'count':>6}", file=out)
    for (_, sender, outcome), count in sorted(partners.results.items()):
        print(f"{sender:10} {outcome:40} {count:6}", file=out)
    return all(outcome == "accepted" for (_, _, outcome) in partners.results)


async def _run(config: Config, plan: TrafficPlan, out: TextIO) -> int:
    targets = routes(config, plan.partners)
    transport = AiohttpTransport()
    partners = Partners(config, transport, plan.gateway_url, plan.tls_url)
    try:
        await _send(plan, partners, targets, out)
    finally:
        await transport.close()
    return 0 if _summary(partners, out) else 1


def run_traffic(config: Config, plan: TrafficPlan, out: TextIO) -> int:
    """Send the plan's traffic and print the summary; 0 when every submission was accepted."""
    if plan.rate <= 0 or plan.duration <= 0 or plan.concurrency < 1:
        raise ConfigError("command line", "--rate/--duration/--concurrency", "must be positive")
    routes(config, plan.partners)  # refuse a bad choice before any traffic
    try:
        return asyncio.run(_run(config, plan, out))
    except KeyboardInterrupt:
        return 1
