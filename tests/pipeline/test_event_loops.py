"""``gateway serve --loop asyncio|uvloop`` (issue 15 item 5): the same gateway on either event loop, as a real
process. On each: a signed anhui submission on the plain listener, a zlb submission, then the g60 hub's status event
over mutual TLS (the client certificate read from uvloop's transports as from asyncio's), a SIGHUP reload and a clean
SIGTERM stop. ``auto`` takes uvloop where it is installed."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest
from gateway_process import spawn_gateway
from pipeline_stack import config_dict, free_port, partner_client, sample, wait_for, write_config

from gateway.config import parse_config
from gateway.server.loops import loop_factory
from gateway.transport import AiohttpTransport


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_the_gateway_serves_partners_on_either_loop(
    loop: str, dev_folder: Path, tmp_path: Path, samples_dir: Path
) -> None:
    port = free_port()
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}", {}, port)
    config_file = write_config(data, tmp_path / "gateway.toml")
    config = parse_config(data, "loops test", tmp_path)
    url, tls_url = f"http://127.0.0.1:{port}", f"https://127.0.0.1:{config.server.tls_port}"
    gateway = await spawn_gateway(config_file, "--loop", loop)
    transport = AiohttpTransport()
    try:
        await wait_for(lambda: gateway.log.count("Running on") >= 2 or gateway.proc.returncode is not None, 60)
        assert f"event loop: {loop}" in gateway.log, gateway.log
        hefei = await partner_client(config, "hefei", url, transport).submit(
            "case", sample(config, samples_dir, "anhui", "case", "SC001.json"), "m-loop-1"
        )
        assert not hefei.repeated
        case = sample(config, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, handled in 宣城 → g60
        await partner_client(config, "ningbo", url, transport).submit("case", case, "m-loop-2")
        event = replace(
            sample(config, samples_dir, "g60", "status", "SS002.xml"), case_no=case.case_no, handling_region="341800"
        )
        await partner_client(config, "g60", tls_url, transport).submit("status", event, "m-loop-3")
        gateway.proc.send_signal(signal.SIGHUP)
        await wait_for(lambda: "configuration reloaded" in gateway.log, 10, "the reload")
        gateway.proc.send_signal(signal.SIGTERM)
        assert await gateway.wait(timeout=30) == 0, gateway.log
    finally:
        await gateway.stop()
        await transport.close()
    assert "Traceback" not in gateway.log, gateway.log


def test_auto_takes_uvloop_where_installed_and_other_names_are_refused() -> None:
    factory = loop_factory("auto")
    assert factory is not None  # the dev extra installs uvloop
    made = factory()
    try:
        assert type(made).__module__.startswith("uvloop")
    finally:
        made.close()
    assert loop_factory("asyncio") is None
    with pytest.raises(ValueError, match="auto, asyncio, uvloop"):
        loop_factory("trio")
