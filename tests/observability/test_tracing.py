"""W3C traceparent parsing and generation; the middleware on a real loopback aiohttp server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import aiohttp
import pytest
from aiohttp import web

from gateway.observability.context import bind_request, current_request
from gateway.observability.logging import JsonFormatter
from gateway.observability.tracing import (
    REQUEST_ID_HEADER,
    InvalidTraceParent,
    TraceParent,
    child_traceparent,
    current_trace,
    current_traceparent,
    new_traceparent,
    parse_traceparent,
    trace_middleware,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADER = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]")


def test_parse_a_valid_header() -> None:
    tp = parse_traceparent(VALID)
    assert tp == TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1)
    assert tp.sampled and tp.header() == VALID
    assert not parse_traceparent(VALID[:-2] + "00").sampled


def test_a_future_version_is_read_by_its_first_fields() -> None:
    tp = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
    assert tp.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and tp.header().startswith("00-")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        VALID.upper(),  # hex must be lower case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # 31-hex trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  # 15-hex parent id
        VALID + "-extra",  # version 00 has exactly four fields
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",  # no dash after the flags
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # one-digit flags
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    ],
)
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidTraceParent) as info:
        parse_traceparent(header)
    assert "4bf92f35" not in str(info.value)  # the message names the defect, not the value


def test_generated_headers_are_valid_and_distinct() -> None:
    made = [new_traceparent() for _ in range(200)]
    assert all(HEADER.fullmatch(tp.header()) and parse_traceparent(tp.header()) == tp for tp in made)
    assert len({tp.trace_id for tp in made}) == 200
    assert new_traceparent(sampled=False).header().endswith("-00")
    root = made[0]
    child = root.child()
    assert child.trace_id == root.trace_id and child.parent_id != root.parent_id and child.flags == root.flags


def test_current_and_child_follow_the_bound_context() -> None:
    assert current_trace() is None and current_traceparent() is None
    assert HEADER.fullmatch(child_traceparent())  # outside a trace: a new root
    with bind_request("job-1", VALID):
        assert current_traceparent() == VALID
        child = parse_traceparent(child_traceparent())
        assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and child.parent_id != "00f067aa0ba902b7"
    assert current_request() is None


def test_a_bound_context_nests_and_is_restored_after_an_exception() -> None:
    with bind_request("outer-1", VALID) as outer:
        assert outer.request_id == "outer-1" and current_request() is outer
        seen: list[object] = []

        def fails() -> None:
            with bind_request("inner-1") as inner:
                seen.append(current_request())
                assert inner.traceparent is None
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fails()
        assert [getattr(ctx, "request_id", None) for ctx in seen] == ["inner-1"]
        assert current_request() is outer
    assert current_request() is None


async def _serve(handler: web.Handler) -> tuple[web.AppRunner, str]:
    app = web.Application(middlewares=[trace_middleware()])
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"


async def test_middleware_binds_ids_logs_with_them_and_echoes_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.observability.trace")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)

    async def echo(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)  # concurrent requests interleave here
        ctx = current_request()
        assert ctx is not None
        log.info("handled")
        if request.query.get("fail"):
            raise web.HTTPNotFound()
        return web.json_response(
            {"request_id": ctx.request_id, "traceparent": ctx.traceparent, "outbound": child_traceparent()}
        )

    runner, url = await _serve(echo)
    try:
        async with aiohttp.ClientSession() as session:

            async def call(headers: dict[str, str], **params: str) -> tuple[aiohttp.ClientResponse, dict[str, str]]:
                async with session.get(url, headers=headers, params=params) as resp:
                    return resp, (await resp.json() if resp.status == 200 else {})

            (r1, b1), (r2, b2), (r3, b3) = await asyncio.gather(
                call({REQUEST_ID_HEADER: "abc-123", "traceparent": VALID}),
                call({}),
                call({REQUEST_ID_HEADER: "bad id with spaces", "traceparent": "00-zz"}),
            )
            r4, _ = await call({REQUEST_ID_HEADER: "nf-1"}, fail="1")
    finally:
        await runner.cleanup()
        log.removeHandler(handler)
    assert r1.headers[REQUEST_ID_HEADER] == b1["request_id"] == "abc-123"
    assert parse_traceparent(b1["traceparent"]).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse_traceparent(b1["outbound"]).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert re.fullmatch(r"[0-9a-f]{32}", r2.headers[REQUEST_ID_HEADER]) and b2["request_id"] != b1["request_id"]
    assert r3.headers[REQUEST_ID_HEADER] != "bad id with spaces" and HEADER.fullmatch(b3["traceparent"])
    assert parse_traceparent(b3["traceparent"]).trace_id != parse_traceparent(b2["traceparent"]).trace_id
    assert r4.status == 404 and r4.headers[REQUEST_ID_HEADER] == "nf-1"
    logged = {line["request_id"]: line for line in map(json.loads, stream.getvalue().splitlines())}
    assert logged.keys() == {"abc-123", b2["request_id"], b3["request_id"], "nf-1"}
    assert logged["abc-123"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
