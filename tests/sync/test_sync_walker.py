"""The keyset page walker, the content hash, the checkpoint and the start rules: no network, the simulator's
``Catalogue`` as the paged source (its pages follow anhui.md §6.5 exactly, and it changes on demand)."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Any

import pytest

from gateway.model.records import Item, ItemMaterial
from gateway.simulate.catalogue import Catalogue
from gateway.sync.start import CheckpointUnreadable, plan_run
from gateway.sync.state import Checkpoint, Position, content_hash, item_key
from gateway.sync.walker import choose_page, walk
from gateway.wire.base import CataloguePage


class Source:
    """A catalogue that changes between reads: ``after[n]`` runs before the n-th page is served."""

    def __init__(self, catalogue: Catalogue, after: dict[int, Any] | None = None) -> None:
        self.catalogue = catalogue
        self.after = after or {}
        self.requests: list[tuple[int, int, datetime | None]] = []

    async def __call__(self, page_no: int, page_size: int, since: datetime | None) -> CataloguePage:
        change = self.after.get(len(self.requests))
        if change is not None:
            change(self.catalogue)
        self.requests.append((page_no, page_size, since))
        return self.catalogue.page(page_no, page_size, since)


async def _read(source: Source, page_size: int, position: Position | None = None) -> list[Item]:
    out: list[Item] = []
    async for chunk in walk(source, since=None, position=position, page_size=page_size):
        assert len(chunk.positions) == len(chunk.items)
        out.extend(chunk.items)
    return out


def _now(catalogue: Catalogue) -> set[str]:
    return {item_key(catalogue.item(i)) for i in range(catalogue.size)}


async def test_a_quiet_catalogue_is_read_once_in_order() -> None:
    source = Source(Catalogue(seed=1, size=2500))
    items = await _read(source, 1000)
    assert [item_key(i) for i in items] == [item_key(source.catalogue.item(i)) for i in range(2500)]
    assert len(source.requests) <= 5


@pytest.mark.parametrize("prefetch", [True, False])
async def test_items_changed_while_reading_shift_pages_but_nothing_is_skipped(prefetch: bool) -> None:
    # A change between pages moves items to the end: offset paging would skip the unchanged ones after them.
    catalogue = Catalogue(seed=2, size=3000)
    source = Source(
        catalogue,
        {2: lambda c: c.mutate(0.1, seed=1, now=time.time()), 4: lambda c: c.mutate(0.05, seed=2, now=time.time() + 1)},
    )
    items = [
        i
        async for chunk in walk(source, since=None, position=None, page_size=400, prefetch=prefetch)
        for i in chunk.items
    ]
    keys = [item_key(i) for i in items]
    assert set(keys) == _now(catalogue)  # every item as it stands now was read
    final = {item_key(catalogue.item(i)): catalogue.item(i) for i in range(catalogue.size)}
    last_read = {item_key(i): i for i in items}
    assert last_read == final  # and the last version read of each is its current one


async def test_a_second_larger_than_a_page_and_a_shift_inside_it() -> None:
    catalogue = Catalogue(seed=3, size=2000)
    catalogue.mutate(0.6, seed=4, now=time.time())  # 1,200 items share one CD_TIME
    source = Source(catalogue, {3: lambda c: c.mutate(0.02, seed=5, now=time.time() + 2)})
    items = await _read(source, 250)
    assert {item_key(i) for i in items} == _now(catalogue)


async def test_resuming_from_a_position_reads_only_what_follows() -> None:
    catalogue = Catalogue(seed=4, size=1500)
    everything = await _read(Source(catalogue), 1000)
    position = None
    for item in everything[:700]:
        position = Position.after(position, item)
    assert position is not None
    wrong_rank = dataclasses.replace(position, rank=40)  # a wrong rank costs requests, never items
    for start in (position, wrong_rank, dataclasses.replace(position, rank=0)):
        rest = await _read(Source(catalogue), 300, start)
        assert [item_key(i) for i in rest] == [item_key(i) for i in everything[700:]]


def test_choose_page_holds_the_offset_and_brings_new_items() -> None:
    for offset in (0, 1, 499, 999, 1000, 1500, 2519, 123_456):
        page_no, size, gain = choose_page(offset, 1000)
        start = (page_no - 1) * size
        assert start <= offset < start + size and gain == start + size - 1 - offset and gain > 0
    assert choose_page(0, 1000) == (1, 1000, 999)


def test_the_content_hash_covers_every_business_field_and_nothing_else() -> None:
    item = Catalogue(seed=5, size=10).item(3)
    base = content_hash(item)
    assert len(base) == 64
    other = {
        "item_code": "000000000001",
        "item_name": "别的",
        "item_type": "REWARD",
        "dept_code": "X" * 18,
        "dept_name": "别的部门",
        "level": 6 if item.level != 6 else 5,
        "region": "340100" if item.region != "340100" else "340102",
        "legal_days": item.legal_days + 1,
        "promise_days": item.promise_days + 1,
        "online": not item.online,
        "cross_province": not item.cross_province,
        "version": item.version + 1,
        "operation": "DELETE",
        "materials": () if item.materials else (ItemMaterial("申请表", True),),
    }
    assert {f.name for f in dataclasses.fields(item)} == {*other, "updated_at"}  # a new field needs a decision
    for name, value in other.items():
        assert content_hash(dataclasses.replace(item, **{name: value})) != base, name
    later = dataclasses.replace(item, updated_at=datetime(2030, 1, 1, tzinfo=item.updated_at.tzinfo))
    assert content_hash(later) == base  # a re-published item with the same content is unchanged
    assert content_hash(dataclasses.replace(item, operation="UPDATE")) == content_hash(
        dataclasses.replace(item, operation="ADD")
    )


def test_checkpoint_round_trip_and_the_start_rules() -> None:
    item = Catalogue(seed=6, size=5).item(2)
    position = Position.after(None, item)
    saved = Checkpoint("r1", None, position, done=False, mode="full")
    assert Checkpoint.loads(saved.dumps()) == saved
    assert plan_run(saved.dumps(), full=False, since=None).resumed  # the same command resumes
    assert plan_run(saved.dumps(), full=True, since=None).run == "r1"
    fresh = plan_run(saved.dumps(), full=False, since=datetime(2025, 1, 1))
    assert not fresh.resumed and fresh.since is not None and fresh.since.utcoffset() is not None
    done = Checkpoint("r1", None, position, done=True).dumps()
    nxt = plan_run(done, full=False, since=None, new_run_id="r2")
    assert (nxt.run, nxt.mode, nxt.position, nxt.since) == ("r2", "incremental", position, position.time)
    assert plan_run(done, full=False, since=None, overlap=60).position is None
    assert plan_run(None, full=False, since=None).mode == "full"
    with pytest.raises(CheckpointUnreadable):
        plan_run("{not json", full=False, since=None)
    assert plan_run("{not json", full=True, since=None).mode == "full"


def test_progress_sinks_throttle_and_finish() -> None:
    import io
    import json as jsonlib

    from gateway.sync.progress import BarSink, Progress, make_sink

    now = [0.0]
    stream = io.StringIO()
    bar = BarSink(stream, lambda: now[0])
    counts = {"created": 5, "unchanged": 0}
    for done in range(0, 50, 5):
        bar(Progress(done, 50 - done, counts, 1, 1.0))  # same instant: drawn once
    assert stream.getvalue().count("\r") == 1
    now[0] = 1.0
    bar(Progress(50, 0, counts, 2, 2.0, final=True))
    assert stream.getvalue().endswith("\n") and "100%" in stream.getvalue() and "50/50 items" in stream.getvalue()

    lines = io.StringIO()
    sink = make_sink("json", lines, lambda: now[0], interval=10)
    assert sink is not None
    sink(Progress(10, 90, counts, 1, 1.0))
    sink(Progress(20, 80, counts, 1, 1.0))  # within the interval: skipped
    sink(Progress(100, 0, counts, 2, 2.0, final=True))
    written = [jsonlib.loads(line) for line in lines.getvalue().splitlines()]
    assert [w["done"] for w in written] == [10, 100] and written[-1]["ratio"] == 1.0
    assert make_sink(None, io.StringIO(), lambda: 0.0).__class__.__name__ == "LinesSink"  # not a terminal
    assert make_sink("none", io.StringIO(), lambda: 0.0) is None
    with pytest.raises(ValueError, match="unknown progress kind"):
        make_sink("fancy", io.StringIO(), lambda: 0.0)
