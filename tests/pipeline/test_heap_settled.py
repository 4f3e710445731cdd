"""Start-up's objects are frozen out of the cyclic collector's walks once the gateway listens (``settle_heap``).

Why: a full collection walked every module, key, certificate and compiled mapping on the event loop, pausing all
requests for 22-48 ms under the bench's half load (docs/performance.md, session 6); frozen, they are skipped.
"""

from __future__ import annotations

import gc
import inspect
import weakref
from collections.abc import Iterator

import pytest

from gateway.server import run as server_run
from gateway.server.run import settle_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of this test process collects as before


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_what_lives_is_frozen_and_garbage_is_not_kept(unfrozen: None) -> None:
    kept = [_Node() for _ in range(1000)]
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle that only the collector can free
    gone = weakref.ref(a)
    del a, b
    assert gc.get_freeze_count() == 0
    settle_heap()
    assert gone() is None  # collected before the freeze, not frozen with the rest
    assert gc.get_freeze_count() >= len(kept)
    assert all(gc.is_tracked(node) for node in kept[:3])  # frozen objects stay tracked, only not walked


def test_the_gateway_settles_its_heap_once_it_listens() -> None:
    """serve_until_stopped calls it after the listeners are up (before that, start-up is still building)."""
    source = inspect.getsource(server_run.serve_until_stopped)
    assert source.index("settle_heap()") > source.index("start_sites(")
