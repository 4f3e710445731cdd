"""Random identifiers (request ids, trace ids, receipt numbers, outbox ids) and the at-rest GCM nonces, from the OS,
read ahead in blocks.

Why a read-ahead pool: an accepted submission needs five to seven random ids, and each ``os.urandom`` call is a
system call that releases and retakes the GIL. With the store's writer threads waiting for the GIL, every such
release can hand it over and make the event loop wait to get it back; profiled under intake load, the id reads
were several per cent of the event loop's time. Reading 4 KiB at once makes that one call per ~100 requests.

The bytes are the operating system's CSPRNG output, unchanged: ids stay unguessable. Every byte is handed out once
(under a lock, so threads never share bytes), and a forked child starts with an empty pool
(``os.register_at_fork``), so parent and child never hand out the same bytes either. That makes the pool fit for
the 96-bit random nonces of the at-rest SM4-GCM / AES-GCM encryption (:mod:`gateway.msglog.atrest`: a fresh random
nonce per encryption, three per g60 delivery). Keys, and the nonces and randomness of signatures, do NOT come from
here: ``signing`` asks the OS (or OpenSSL) directly.
"""

from __future__ import annotations

import os
import threading

__all__ = ["random_bytes", "random_hex"]

_BLOCK = 4096


class _Pool:
    """A block of ``os.urandom`` output handed out front to back, each byte once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        if count > _BLOCK:
            return os.urandom(count)
        with self._lock:
            if self._at + count > len(self._block):
                self._block = os.urandom(_BLOCK)
                self._at = 0
            start = self._at
            self._at = start + count
            return self._block[start : start + count]

    def forget(self) -> None:
        """After a fork, in the child: never reuse the parent's bytes."""
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0


_POOL = _Pool()
os.register_at_fork(after_in_child=_POOL.forget)


def random_bytes(count: int) -> bytes:
    """``count`` bytes of OS randomness, for identifiers."""
    return _POOL.take(count)


def random_hex(count: int) -> str:
    """``count`` random bytes as lower-case hex (``2 * count`` characters)."""
    return _POOL.take(count).hex()
