"""Partners are held to their documented request rates (429 + Retry-After, a problem document)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pipeline_stack import Stack, start_stack

from gateway.delivery import Throttled
from gateway.server.limits import TokenBucket


def test_token_bucket_with_a_fake_clock() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])
    assert bucket.take() == 0.0
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() == 0.0


@pytest.fixture
async def slow_stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    built = await start_stack(
        dev_folder, f"sqlite:///{tmp_path / 'gw.db'}", extra={"platforms": {"songjiang": {"rate_limit": 1}}}
    )
    try:
        yield built
    finally:
        await built.close()


async def test_a_partner_over_its_rate_gets_429_with_retry_after(slow_stack: Stack, samples_dir: Path) -> None:
    adapter = slow_stack.config.registry.adapter("shanghai")
    case = adapter.decode("case", (samples_dir / "shanghai/case/SC001.xml").read_bytes())
    client = slow_stack.partner_client("songjiang")
    await client.submit("case", case, "m-1")
    with pytest.raises(Throttled) as info:
        await client.submit("case", case, "m-2")
    assert info.value.retry_after is not None
    assert info.value.retry_after >= 1
