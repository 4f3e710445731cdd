"""The catalogue sync: read the source's catalogue page by page, send what changed as item batches, remember it.

One run, in order (see docs/sync.md for the operator's view):

1. Start or resume (:func:`.start.plan_run`): an unfinished run with the same ``since`` resumes at its checkpoint;
   otherwise a new run starts (``--full``, ``--since``, or the previous run's last position).
2. Read new items with the keyset :func:`.walker.walk`, one page at a time (at most ``page_size`` items held).
3. For each page, look up the stored content hashes; an unchanged item is counted, not sent; the rest is cut into
   ``ItemBatch`` documents of at most ``batch_size`` items (g60.md §5: 500; README §10 step 10: a page that cannot
   be one batch is several), each sent with the destination's short retries (``send_with_short_retries``), at most
   ``concurrency`` batches in flight. An item sent again in the same run (it changed while we read) waits until
   its earlier batch is confirmed, so the target never sees the old content last.
4. Batches are *confirmed* in the order they were cut, whatever order their answers come in: for each, the hashes
   of the accepted items are stored, **then** the checkpoint moves past its last item. A crash between the two
   re-reads a few items whose hashes are stored: they count as unchanged, nothing is sent twice. A batch's
   MessageId is derived from the run id and its content, so a batch re-sent after a crash (same run, same items)
   is answered by the target with its first result (g60.md §7).
5. At the end the checkpoint is marked done; the next run without ``--full``/``--since`` starts from its position.

A batch refused as a whole (``Receipt`` REJECTED: a signature, certificate or envelope problem) or a source or
target that stays unavailable after the short retries stops the run: the report carries the reason, the
checkpoint stays at the last confirmed batch, and running the same command again resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime

from gateway.delivery.outcomes import DeliveryError, TransientDeliveryError
from gateway.delivery.policy import RetryPolicy
from gateway.delivery.retrying import send_with_short_retries
from gateway.errors import Refusal, Side
from gateway.model.records import Item, ItemBatch
from gateway.observability.metrics import GatewayMetrics
from gateway.store.api import SyncState
from gateway.wire.base import BatchResult, CataloguePage, PlatformClient

from .progress import Progress, ProgressSink
from .report import RefusedItem, SyncReport
from .start import RunPlan, plan_run
from .state import Checkpoint, Position, content_hash, item_key, job_name, link_name
from .status import write_status
from .walker import Chunk, walk

__all__ = ["SyncSettings", "run_sync"]

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """What one invocation asks for (the CLI's options, checked there)."""

    source: str
    target: str
    full: bool = False
    since: datetime | None = None
    dry_run: bool = False
    page_size: int = 1000
    batch_size: int = 500
    concurrency: int = 4
    overlap: float = 0.0  # seconds re-read before the last position when a new incremental run starts
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(slots=True)
class _Entry:
    item: Item
    key: str
    hash: str
    outcome: str  # created, updated, deleted


@dataclass(slots=True)
class _Segment:
    """A span of the catalogue, confirmed as a unit: some unchanged items, then (maybe) one batch."""

    entries: list[_Entry]
    unchanged: int
    position: Position
    task: asyncio.Task[BatchResult] | None = None


# A refusal of our own while reading the source: its page did not decode, or its dialect carries no catalogue.
_NO_CATALOGUE = "the source's catalogue page could not be read, or the source serves no catalogue"


class _Failed(Exception):
    """Stops the run; ``str`` is the report's ``error`` (a code and a data-free reason)."""


class _Run:
    def __init__(self, settings: SyncSettings, plan: RunPlan, source: PlatformClient, target: PlatformClient,
                 store: SyncState, clock: Callable[[], float], metrics: GatewayMetrics | None,
                 progress: ProgressSink | None, sleep: Sleep) -> None:
        self.s = settings
        self.plan = plan
        self.source = source
        self.target = target
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.progress = progress
        self.sleep = sleep
        self.namespace = link_name(settings.source, settings.target)
        self.job = job_name(settings.source, settings.target)
        self.report = SyncReport(settings.source, settings.target, plan.mode, plan.since, plan.run,
                                 resumed=plan.resumed, dry_run=settings.dry_run)
        self.position = plan.position
        self.segments: deque[_Segment] = deque()
        self.pending: dict[str, _Segment] = {}
        self.in_flight = 0
        self.carry: list[_Entry] = []  # items to send, not yet a full batch
        self.carry_unchanged = 0
        self.carry_position: Position | None = None
        self.remaining = 0
        self.started = time.monotonic()

    # --- the source ------------------------------------------------------------------------------------------------
    async def fetch(self, page_no: int, page_size: int, since: datetime | None) -> CataloguePage:
        async def once() -> CataloguePage:  # a coroutine function: tenacity awaits (and retries) only those
            return await self.source.fetch_catalogue(page_no, page_size, since)

        try:
            page = await send_with_short_retries(once, self.s.retry, self.sleep)
        except Refusal as exc:
            why = "the source's catalogue page was refused" if exc.side is Side.PEER else _NO_CATALOGUE
            raise _Failed(f"SOURCE_REFUSED {exc.code.value}: {why}") from exc
        except DeliveryError as exc:  # down, or unreachable as configured (Undeliverable)
            raise _Failed(f"SOURCE_UNAVAILABLE: {exc}") from exc
        self.report.pages += 1
        return page

    # --- the target ------------------------------------------------------------------------------------------------
    def message_id(self, entries: list[_Entry]) -> str:
        digest = hashlib.sha256("\n".join(f"{e.key}={e.hash}" for e in entries).encode()).hexdigest()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tongban:sync:{self.job}:{self.plan.run}:{digest}"))

    async def upload(self, entries: list[_Entry]) -> BatchResult:
        batch = ItemBatch(tuple(e.item for e in entries))
        message_id = self.message_id(entries)

        def retried(exc: TransientDeliveryError, wait: float) -> None:
            if self.metrics is not None:
                self.metrics.count_retry(self.s.target, exc.kind)

        async def once() -> BatchResult:  # signed afresh on every try (new SentAt), same MessageId
            return await self.target.upload_items(batch, message_id)

        return await send_with_short_retries(once, self.s.retry, self.sleep, on_retry=retried)

    # --- cutting pages into segments -------------------------------------------------------------------------------
    async def take(self, chunk: Chunk) -> None:
        """Classify a chunk's items; full batches are cut at once, the rest waits for the next chunk."""
        keys = [item_key(item) for item in chunk.items]
        wanted = set(keys)
        if any(entry.key in wanted for entry in self.carry):
            await self.flush()  # changed during the run before its first version was even sent
        while not wanted.isdisjoint(self.pending):
            await self.confirm_oldest()  # changed during the run: its earlier send goes first
        stored = await self.store.get_item_hashes(self.namespace, keys)
        for item, key, position in zip(chunk.items, keys, chunk.positions, strict=True):
            digest = content_hash(item)
            old = stored.get(key)
            if old == digest:
                self.carry_unchanged += 1
            else:
                outcome = "deleted" if item.operation == "DELETE" else "created" if old is None else "updated"
                self.carry.append(_Entry(item, key, digest, outcome))
            self.carry_position = position
            if len(self.carry) == self.s.batch_size:
                await self.flush()
        if not self.carry:
            await self.flush()  # only unchanged items: move the checkpoint on
        self.remaining = chunk.remaining

    async def flush(self) -> None:
        """Cut what is carried (entries and the unchanged items among them) into a segment."""
        if self.carry_position is None or (not self.carry and not self.carry_unchanged):
            return
        entries, unchanged, position = self.carry, self.carry_unchanged, self.carry_position
        self.carry, self.carry_unchanged, self.carry_position = [], 0, None
        await self.cut(entries, unchanged, position)

    async def cut(self, entries: list[_Entry], unchanged: int, position: Position) -> None:
        segment = _Segment(entries, unchanged, position)
        if entries and not self.s.dry_run:
            while self.in_flight >= self.s.concurrency:
                await self.confirm_oldest()
            segment.task = asyncio.create_task(self.upload(entries))
            self.in_flight += 1
            for entry in entries:
                self.pending[entry.key] = segment
        self.segments.append(segment)
        while self.segments and self.segments[0].task is None:
            await self.confirm_oldest()  # nothing to wait for: confirm (and checkpoint) at once

    # --- confirming ------------------------------------------------------------------------------------------------
    async def confirm_oldest(self) -> None:
        segment = self.segments.popleft()
        results = None
        if segment.task is not None:
            self.in_flight -= 1
            try:
                answer = await segment.task
            except Refusal as exc:
                why = "the target refused a whole batch" if exc.side is Side.PEER else "a batch could not be rendered"
                raise _Failed(f"BATCH_REFUSED {exc.code.value}: {why}") from exc
            except DeliveryError as exc:
                raise _Failed(f"TARGET_UNAVAILABLE: {exc}") from exc
            results = answer.results
            if len(results) != len(segment.entries):
                raise _Failed("TARGET_ANSWER: the batch result does not list every item")
            self.report.batches += 1
            if self.metrics is not None:
                self.metrics.count_sync_batch(self.s.source)
        accepted: dict[str, str] = {}
        counts = dict.fromkeys(("created", "updated", "deleted", "refused"), 0)
        for index, entry in enumerate(segment.entries):
            result = None if results is None else results[index]
            if result is None or result.ok:
                accepted[entry.key] = entry.hash
                counts[entry.outcome] += 1
            else:
                counts["refused"] += 1
                self.report.refuse(RefusedItem(entry.item.item_code, entry.item.region, result.code or "REJECTED",
                                           result.where))
            if self.pending.get(entry.key) is segment:
                del self.pending[entry.key]
        if not self.s.dry_run:
            if accepted:
                await self.store.put_item_hashes(self.namespace, accepted)
            await self.store.put_checkpoint(self.job, self.checkpoint(segment.position, done=False))
        self.position = segment.position
        counts["unchanged"] = segment.unchanged
        for outcome, n in counts.items():
            if outcome != "refused":
                self.report.counts[outcome] += n
            if n and self.metrics is not None:
                self.metrics.count_sync_items(self.s.source, outcome, n)
        self.tick()

    def checkpoint(self, position: Position | None, done: bool) -> str:
        return Checkpoint(self.plan.run, self.plan.since, position, done, self.plan.mode).dumps()

    def tick(self, final: bool = False) -> None:
        queued = sum(len(s.entries) + s.unchanged for s in self.segments)
        snapshot = Progress(self.report.read, self.remaining + queued, dict(self.report.counts),
                            self.report.batches, time.monotonic() - self.started, final)
        if self.metrics is not None:
            self.metrics.set_sync_progress(self.s.source, snapshot.ratio)
        if self.progress is not None:
            self.progress(snapshot)

    # --- the whole run ---------------------------------------------------------------------------------------------
    async def run(self) -> SyncReport:
        if not self.s.dry_run and not self.plan.resumed:
            await self.store.put_checkpoint(self.job, self.checkpoint(self.position, done=False))
        try:
            chunks = walk(self.fetch, since=self.plan.since, position=self.plan.position, page_size=self.s.page_size)
            async with aclosing(chunks):
                async for chunk in chunks:
                    await self.take(chunk)
            await self.flush()
            while self.segments:
                await self.confirm_oldest()
        except _Failed as exc:
            self.report.error = str(exc)
        finally:
            await self.abandon()
            self.report.seconds = time.monotonic() - self.started
        if self.report.error is None:
            self.report.completed = True
            self.remaining = 0
            if not self.s.dry_run:
                await self.store.put_checkpoint(self.job, self.checkpoint(self.position, done=True))
                if self.metrics is not None:
                    self.metrics.mark_sync_success(self.s.source, self.clock())
        if not self.s.dry_run:  # kept for `gateway serve`'s /metrics between runs (status.py)
            await write_status(self.store, self.report, self.clock())
        self.tick(final=True)
        return self.report

    async def abandon(self) -> None:
        """Stop batches still in flight (a failure or a cancellation); they were not confirmed."""
        tasks = [s.task for s in self.segments if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*(s.task for s in self.segments if s.task is not None),
                                       return_exceptions=True)
        del results  # unconfirmed: a later run sends them again, under the same MessageId when unchanged
        self.segments.clear()


async def run_sync(
    settings: SyncSettings,
    *,
    source: PlatformClient,
    target: PlatformClient,
    store: SyncState,
    clock: Callable[[], float] = time.time,
    metrics: GatewayMetrics | None = None,
    progress: ProgressSink | None = None,
    sleep: Sleep = asyncio.sleep,
) -> SyncReport:
    """Run (or resume) the sync of ``settings.source``'s catalogue to ``settings.target``; see the module docstring.

    ``source`` pages the catalogue (``fetch_catalogue``), ``target`` takes item batches (``upload_items``); both
    are wire clients holding the gateway's side of their link. Raises only on cancellation and store failures;
    everything the platforms do ends in the report.
    """
    saved = await store.get_checkpoint(job_name(settings.source, settings.target))
    plan = plan_run(saved, full=settings.full, since=settings.since, overlap=settings.overlap)
    return await _Run(settings, plan, source, target, store, clock, metrics, progress, sleep).run()
