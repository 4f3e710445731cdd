"""Reading a paged catalogue exactly once, in order, while it changes underneath (anhui.md §6.5).

Why not ``pageNo = 1, 2, 3 ...`` with one ``updatedSince``: the catalogue is paged by offset. An item changed during
the run leaves its place (its ``CD_TIME`` becomes now, so it moves to the end) and every later item moves one
offset forward: the next page then starts one item too late and an *unchanged* item is never read.

So the walker pages by key. Every request asks ``updatedSince`` = the time of the last item passed (the position,
:mod:`.state`), so the result starts with the few items of that second. The position's *rank* says where the last
item passed should sit in that result; the walker asks for a page that holds that offset and checks that the item
there is indeed at or before the position (the *anchor*). Items after the anchor that come after the position are
new, in order. When the anchor does not hold (items left that second while we were reading), the walker re-reads
that second from its first page, comparing keys: nothing is skipped, nothing is read twice. Changed items are read
again at their new place, with their new content; items that were new before the run's position (a late commit
at the source with an old ``CD_TIME``) are out of any keyset's reach: a new run may start a little earlier
(``overlap``), the content hashes make that cheap.

The page size is chosen per request (1..``page_size``) so that the page holding the anchor brings as many new items
as possible; a request costs one round trip, whatever its size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime

from gateway.model.records import Item
from gateway.wire.base import CataloguePage

from .state import Position

__all__ = ["Chunk", "FetchPage", "choose_page", "walk"]

FetchPage = Callable[[int, int, datetime | None], Awaitable[CataloguePage]]
"""``fetch(page_no, page_size, since)``: one catalogue page (``PlatformClient.fetch_catalogue``, with retries)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """New items in the source's order, the position just after each, and how many items remain (an estimate)."""

    items: tuple[Item, ...]
    positions: tuple[Position, ...]
    remaining: int


def choose_page(offset: int, page_size: int) -> tuple[int, int, int]:
    """(page_no, size, gain) of a page holding ``offset`` with the most items after it (``gain`` of them)."""
    best, best_gain = (1, page_size), page_size - 1 - offset
    for size in range(page_size, 1, -1):
        if best_gain >= size - 1:
            break  # no smaller size can do better
        page_no = offset // size + 1
        gain = page_no * size - 1 - offset
        if gain > best_gain:
            best, best_gain = (page_no, size), gain
    return best[0], best[1], best_gain


def _request(rank: int, page_size: int) -> tuple[int, int, int]:
    """(page_no, size, anchor offset) for a position of ``rank``.

    The anchor is the item at offset ``rank - 1`` (the last item passed) or any earlier one: an earlier anchor
    still proves that nothing before the page was skipped, and keys decide the rest. An earlier one is taken
    only when no page size brings an item after ``rank - 1`` (``rank`` a multiple of every size).
    """
    offset = max(rank - 1, 0)
    page_no, size, gain = choose_page(offset, page_size)
    while gain <= 0 and offset > 0:
        offset -= 1
        page_no, size, gain = choose_page(offset, page_size)
    return page_no, size, offset


async def walk(
    fetch: FetchPage,
    *,
    since: datetime | None,
    position: Position | None,
    page_size: int = 1000,
    prefetch: bool = True,
) -> AsyncGenerator[Chunk, None]:
    """Yield the items after ``position`` (or, without one, at or after ``since``) chunk by chunk, to the end.

    With ``prefetch`` the next page is requested before a chunk is handed over (the request depends only on the
    position, known by then), so the source renders it while the caller hashes and sends: one page ahead at most.
    """
    if not 2 <= page_size <= 1000:
        raise ValueError("anhui.md §5: a catalogue page holds up to 1000 items (the walker needs 2 or more)")
    rank = position.rank if position is not None else 0
    cursor = position.time if position is not None else since
    ahead: tuple[tuple[int, int, datetime | None], asyncio.Task[CataloguePage]] | None = None
    try:
        while True:
            page_no, size, anchor = _request(rank, page_size)
            if ahead is not None and ahead[0] == (page_no, size, cursor):
                page = await ahead[1]
            else:
                page = await fetch(page_no, size, cursor)
            ahead = None
            items = page.items
            start = (page_no - 1) * size
            after_anchor = 0
            if position is not None and rank > 0:
                at = anchor - start
                if at >= len(items) or not position.passed(items[at]):
                    rank = 0  # the anchor moved: re-read this second from its start, by key
                    continue
                after_anchor = at + 1
            new: list[Item] = []
            positions: list[Position] = []
            for index in range(after_anchor, len(items)):
                item = items[index]
                if position is not None and position.passed(item):
                    continue
                position = Position.after(position, item)
                if item.updated_at == cursor:  # its offset in this very result is its rank, exactly
                    position = replace(position, rank=start + index + 1)
                new.append(item)
                positions.append(position)
            at_end = len(items) < size or start + len(items) >= page.total
            if new and position is not None:
                rank, cursor = position.rank, position.time
                if prefetch:
                    next_no, next_size, _ = _request(rank, page_size)
                    ahead = ((next_no, next_size, cursor), asyncio.ensure_future(fetch(next_no, next_size, cursor)))
                yield Chunk(tuple(new), tuple(positions), max(page.total - start - len(items), 0))
            elif at_end:
                return
            else:
                rank = start + len(items)  # a full page of items already passed: read on after it
    finally:
        if ahead is not None:
            ahead[1].cancel()
            with suppress(asyncio.CancelledError, Exception):
                await ahead[1]
