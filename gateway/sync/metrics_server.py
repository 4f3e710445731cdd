"""A tiny ``/metrics`` endpoint for the time a sync runs (``--metrics-port``).

Why: ``gateway sync`` is a job, not the server; Prometheus can only scrape a process that listens. The endpoint
serves the sync's own registry (no process-global one, STYLE lesson 8) on a loopback address and stops with the
run. A job scheduler that prefers a push model can scrape it while the job runs or read the JSON progress lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.observability.metrics import CONTENT_TYPE, GatewayMetrics

__all__ = ["serve_metrics"]


async def serve_metrics(metrics: GatewayMetrics, host: str, port: int) -> Callable[[], Awaitable[None]]:
    """Start serving ``GET /metrics``; returns the coroutine function that stops it."""

    async def exposition(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner.cleanup
