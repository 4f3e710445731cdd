"""RFC 9457 problem documents at the edge: the outermost middleware turns every refusal into one.

A ``Refusal`` keeps its stable code and status; an HTTP error raised by aiohttp keeps its status with a generic
code; anything unexpected becomes a 500 ``INTERNAL`` document that names no internals (the traceback goes to the
log, never to the client).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, Refusal

__all__ = ["problem_middleware", "problem_response"]

log = logging.getLogger("gateway.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=int(problem["status"]),
        body=json.dumps(problem, ensure_ascii=False).encode("utf-8"),
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
        headers=headers,
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refusal as exc:
        return problem_response(exc.to_problem())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "NOT_FOUND" if exc.status == 404 else "METHOD_NOT_ALLOWED" if exc.status == 405 else "HTTP_ERROR"
        return problem_response(
            {"type": PROBLEM_TYPE_BASE + code, "title": exc.reason, "status": exc.status, "code": code}
        )
    except Exception:
        log.exception("unexpected error while handling a request")
        return problem_response(
            {"type": PROBLEM_TYPE_BASE + "INTERNAL", "title": "Internal error", "status": 500, "code": "INTERNAL"}
        )
