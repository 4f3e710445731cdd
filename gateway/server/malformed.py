"""Malformed HTTP is a refusal, not an error: one WARNING line without a traceback, and a count.

Why (issue 11 item 11): aiohttp answers a request it cannot parse (a header line too long, a URI too long, too
many headers, conflicting ``Content-Length`` / ``Transfer-Encoding``) with ``400`` and closes the connection, which
is right; but it logs each one as an ERROR with the parser's full traceback, so any unauthenticated client could
flood the log and fire the error alerts. aiohttp's request handler takes its logger as a parameter (``logger=`` on
the runner); :class:`EdgeLogger` is that logger. A parser refusal (``HttpProcessingError``) becomes one WARNING line
naming its kind (the class name: never the offending bytes, which may hold anything) and counts
``tongban_edge_refusals_total{reason="malformed_http"}``; everything else goes to ``aiohttp.server`` unchanged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["EdgeLogger"]


class EdgeLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``aiohttp.server``'s logger, with parser refusals turned into one counted WARNING line each."""

    def __init__(self, on_malformed: Callable[[], None], logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})
        self.on_malformed = on_malformed

    def log(self, level: int, msg: object, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1] if exc_info is True else None
        if isinstance(exc, HttpProcessingError):
            self.on_malformed()
            # aiohttp logs a bad method (often TLS or noise on the plain port) at DEBUG; it stays there
            self.logger.log(
                min(level, logging.WARNING),
                "malformed HTTP request refused with %s: %s",
                exc.code or 400,
                type(exc).__name__,
            )
            return
        super().log(level, msg, *args, exc_info=exc_info, **kwargs)
