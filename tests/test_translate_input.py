"""``read_input`` (issue 11 item 8, issue 15 item 5): never more than ``limit + 1`` bytes, whatever the input is, and
without allocating the whole limit for every file: the bytes read are the input's own, from a regular file, a pipe
or an in-memory stream."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path

import pytest

from gateway.translate import read_input

LIMIT = 1000


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT, LIMIT + 1, 5 * LIMIT, 200_000])
def test_a_regular_file_is_read_whole_or_to_one_byte_past_the_limit(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with path.open("rb") as fh:
        assert read_input(fh, LIMIT) == data[: LIMIT + 1]
    with path.open("rb") as fh:
        assert read_input(fh, 10 * 1024 * 1024) == data  # a limit far above the file: all of it, once


@pytest.mark.parametrize("size", [0, LIMIT, LIMIT + 1, 300_000])
def test_a_pipe_is_read_in_chunks_to_one_byte_past_the_limit(size: int) -> None:
    data = os.urandom(size)
    read_end, write_end = os.pipe()

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "wb") as out:  # the reader may stop first
            out.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(read_end, "rb") as fh:
        got = read_input(fh, 200_000)
    writer.join()
    assert got == data[:200_001]


def test_an_endless_stream_stops_one_byte_past_the_limit() -> None:
    with Path("/dev/zero").open("rb") as fh:
        assert read_input(fh, 3 * 65536 + 7) == bytes(3 * 65536 + 8)


def test_an_in_memory_stream_without_a_descriptor() -> None:
    data = b"x" * (LIMIT + 50)
    assert read_input(io.BytesIO(data), LIMIT) == data[: LIMIT + 1]
    assert read_input(io.BytesIO(b"{}"), LIMIT) == b"{}"
