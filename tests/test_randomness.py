"""Identifiers from the read-ahead pool of OS randomness: never repeated, not shared with a forked child."""

from __future__ import annotations

import os

from gateway.randomness import random_bytes, random_hex


def test_bytes_are_never_handed_out_twice_across_block_boundaries() -> None:
    taken = [random_bytes(40) for _ in range(1000)]  # ~10 blocks of 4 KiB
    assert all(len(t) == 40 for t in taken)
    assert len(set(taken)) == len(taken)


def test_hex_has_the_asked_length_and_alphabet() -> None:
    value = random_hex(16)
    assert len(value) == 32
    assert set(value) <= set("0123456789abcdef")


def test_a_request_larger_than_a_block_is_served_whole() -> None:
    assert len(random_bytes(5000)) == 5000


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    random_bytes(1)  # the parent now holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next bytes and leave at once
        os.write(write, random_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    parent = random_bytes(32)
    assert len(child) == 32
    assert child != parent
