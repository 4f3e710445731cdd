"""Short in-process retries through tenacity, with a recording fake sleep and a real loopback server."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from gateway.delivery import (
    ConnectionFailed,
    DeliveryTimeout,
    RetryPolicy,
    ServerError,
    Throttled,
    TransientDeliveryError,
    send_with_short_retries,
)
from gateway.errors import Refusal, Side

POLICY = RetryPolicy(short_attempts=4, short_wait=0.5, short_max_wait=5, factor=2, jitter=0)


class RecordingSleep:
    """Stands in for asyncio.sleep: remembers the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def scripted(*results: BaseException | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A send callable that raises or returns the scripted results in order, counting its calls."""
    calls: list[int] = []

    async def send() -> str:
        calls.append(len(calls) + 1)
        result = results[len(calls) - 1]
        if isinstance(result, BaseException):
            raise result
        return result

    return send, calls


async def test_transient_then_success() -> None:
    sleep = RecordingSleep()
    send, calls = scripted(ConnectionFailed("reset"), DeliveryTimeout("slow"), "receipt-1")
    assert await send_with_short_retries(send, POLICY, sleep) == "receipt-1"
    assert len(calls) == 3
    assert sleep.waits == [0.5, 1.0]


async def test_throttled_retry_after_is_honoured_as_a_floor() -> None:
    sleep = RecordingSleep()
    send, _ = scripted(Throttled("HTTP 429", retry_after=3), Throttled("HTTP 429", retry_after=0.1), "ok")
    assert await send_with_short_retries(send, POLICY, sleep) == "ok"
    assert sleep.waits == [3, 1.0]


async def test_retry_after_longer_than_short_max_wait_goes_back_to_the_outbox() -> None:
    sleep = RecordingSleep()
    send, calls = scripted(Throttled("HTTP 429", retry_after=120), "never")
    with pytest.raises(Throttled) as info:
        await send_with_short_retries(send, POLICY, sleep)
    assert info.value.retry_after == 120  # kept for next_action's floor
    assert calls == [1]
    assert sleep.waits == []


async def test_permanent_refusal_is_not_retried() -> None:
    sleep = RecordingSleep()
    send, calls = scripted(Refusal("BAD_FORMAT", "PROJID", side=Side.PEER), "never")
    with pytest.raises(Refusal):
        await send_with_short_retries(send, POLICY, sleep)
    assert calls == [1]
    assert sleep.waits == []


async def test_unclassified_errors_are_not_retried() -> None:
    send, calls = scripted(RuntimeError("bug in the caller"), "never")
    with pytest.raises(RuntimeError):
        await send_with_short_retries(send, POLICY, RecordingSleep())
    assert calls == [1]


async def test_attempts_are_capped_and_the_last_error_is_raised() -> None:
    sleep = RecordingSleep()
    send, calls = scripted(*(ServerError(f"HTTP 50{i}") for i in range(4)), "never")
    with pytest.raises(ServerError, match="HTTP 503"):
        await send_with_short_retries(send, POLICY, sleep)
    assert len(calls) == 4
    assert sleep.waits == [0.5, 1.0, 2.0]


async def test_one_short_attempt_means_no_retry() -> None:
    send, calls = scripted(ServerError("HTTP 500"), "never")
    with pytest.raises(ServerError):
        await send_with_short_retries(send, RetryPolicy(short_attempts=1), RecordingSleep())
    assert calls == [1]


async def test_jittered_waits_stay_in_bounds_and_on_retry_sees_them() -> None:
    sleep = RecordingSleep()
    seen: list[tuple[str, float]] = []
    policy = RetryPolicy(short_attempts=6, short_wait=1, short_max_wait=4, factor=2, jitter=0.5)
    send, _ = scripted(*(ServerError("HTTP 502") for _ in range(5)), "ok")
    result = await send_with_short_retries(
        send, policy, sleep, rng=random.Random(11), on_retry=lambda exc, wait: seen.append((exc.reason, wait))
    )
    assert result == "ok"
    nominal = [1, 2, 4, 4, 4]
    assert all(n / 2 <= w <= n for w, n in zip(sleep.waits, nominal, strict=True))
    assert [wait for _, wait in seen] == sleep.waits
    assert {reason for reason, _ in seen} == {"HTTP 502"}


@pytest.fixture
async def flaky_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback platform that answers 503 twice, then 200; it records each request's signature."""
    signatures: list[str] = []

    async def submit(request: web.Request) -> web.Response:
        signatures.append(request.headers["X-Signature"])
        if len(signatures) <= 2:
            return web.json_response({"code": "500"}, status=503)
        return web.json_response({"code": "200", "receipt": "R-7"})

    app = web.Application()
    app.router.add_post("/kstb/v1/case/submit", submit)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/kstb/v1/case/submit", signatures
    finally:
        await runner.cleanup()


async def test_real_server_503_twice_then_200(flaky_server: tuple[str, list[str]]) -> None:
    url, signatures = flaky_server
    sleep = RecordingSleep()
    nonces = iter(range(100))

    async with aiohttp.ClientSession() as session:

        async def send() -> str:
            # A fresh signed request every call, as the contract of send_with_short_retries asks.
            headers = {"X-Signature": f"sig-{next(nonces)}"}
            async with session.post(url, json={"PROJID": "P1"}, headers=headers) as response:
                if response.status >= 500:
                    raise ServerError(f"HTTP {response.status}")
                body = await response.json()
                return str(body["receipt"])

        assert await send_with_short_retries(send, POLICY, sleep) == "R-7"

    assert signatures == ["sig-0", "sig-1", "sig-2"]
    assert sleep.waits == [0.5, 1.0]


async def test_real_server_down_exhausts_short_retries() -> None:
    # Bind a port, then close it: nothing listens there any more, so connecting is refused.
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await runner.cleanup()
    sleep = RecordingSleep()

    async with aiohttp.ClientSession() as session:

        async def send() -> str:
            try:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    return str(response.status)
            except aiohttp.ClientConnectionError as exc:
                raise ConnectionFailed("connect refused") from exc

        with pytest.raises(TransientDeliveryError) as info:
            await send_with_short_retries(send, POLICY, sleep)

    assert isinstance(info.value, ConnectionFailed)
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    assert sleep.waits == [0.5, 1.0, 2.0]
