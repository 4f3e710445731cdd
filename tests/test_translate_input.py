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

from gateway.translate import read_input, read_path, write_path

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


# --- read_path / write_path: the same bytes and errors as the file objects they replace in ``gateway translate`` ---
@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT, LIMIT + 1, 5 * LIMIT, 200_000])
def test_read_path_gives_what_read_input_gives(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    for limit in (LIMIT, 10 * 1024 * 1024):
        with path.open("rb") as fh:
            assert read_path(str(path), limit) == read_input(fh, limit)


def test_read_path_of_a_device_and_a_fifo_stops_one_byte_past_the_limit(tmp_path: Path) -> None:
    assert read_path("/dev/zero", 3 * 65536 + 7) == bytes(3 * 65536 + 8)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = os.urandom(300_000)

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), fifo.open("wb") as out:
            out.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    got = read_path(str(fifo), 200_000)
    writer.join()
    assert got == data[:200_001]


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_read_path_fails_as_opening_the_file_does(tmp_path: Path, kind: str) -> None:
    name = str(tmp_path / "absent.json") if kind == "missing" else str(tmp_path)
    error = FileNotFoundError if kind == "missing" else IsADirectoryError
    with pytest.raises(error) as expected, Path(name).open("rb"):
        pass
    with pytest.raises(error) as got:
        read_path(name, LIMIT)
    assert (type(got.value), got.value.errno, got.value.strerror) == (
        type(expected.value),
        expected.value.errno,
        expected.value.strerror,
    )


def test_write_path_creates_or_truncates_like_write_bytes(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for data in (b"x" * 70_000, b"short", b""):
        write_path(str(mine), data)
        theirs.write_bytes(data)
        assert mine.read_bytes() == theirs.read_bytes() == data
    assert mine.stat().st_mode == theirs.stat().st_mode
