"""Operators repair dead letters: the admin API (its own bearer token) and ``gateway outbox`` on the same store.

g60 is given ``max_attempts = 1`` and taken down, so each case for it becomes a dead letter
(``DELIVERY_ATTEMPTS_EXHAUSTED``) after one attempt; once g60 is back, a retried dead letter is delivered with its
original idempotency key and message id.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from pipeline_stack import REPO, Stack, StackFactory, config_dict, sample, wait_for, wait_for_async, write_config

from gateway.store.api import DEAD, DELIVERED

ONE_TRY = {"delivery": {"destinations": {"g60": {"max_attempts": 1}}}}


async def dead_letters(stack: Stack, samples_dir: Path, n: int) -> tuple[list[Any], list[Any]]:
    """``n`` cases for a g60 that is down, each dead after its one attempt; returns (cases, dead letters)."""
    stack.sims["g60"].plan.down_until = time.time() + 3600
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    cases = [replace(base, version=v) for v in range(1, n + 1)]
    client = stack.partner_client("hefei")
    for case in cases:
        await client.submit("case", case, f"m-{case.version}")
    found: list[Any] = []

    async def all_dead() -> bool:
        found[:] = await stack.store.list_messages(state=DEAD, destination="g60")
        return len(found) == n

    await wait_for_async(all_dead, what=f"{n} dead letters")
    by_key = {m.idem_key: m for m in found}
    return cases, [by_key[f"{c.case_no}:{c.version}"] for c in cases]


def assert_no_personal_data(text: str, case: Any) -> None:
    """No name, ID number or phone of the applicant, its legal representative or the agent appears in ``text``."""
    people = [case.applicant, case.agent]
    values = [getattr(p, f, None) for p in people if p is not None for f in ("name", "id_number", "phone")]
    values.append(case.applicant.legal_rep)
    assert len([v for v in values if v]) >= 5
    for value in values:
        if value:
            assert value not in text, "a personal value is shown unmasked"


def token(stack: Stack) -> str:
    return (stack.config.dev_credentials / "admin-token").read_text(encoding="ascii").strip()  # type: ignore[operator]


async def test_admin_api_lists_shows_masked_retries_and_discards(
    make_stack: StackFactory, tmp_path: Path, samples_dir: Path
) -> None:
    stack = await make_stack(f"sqlite:///{tmp_path / 'gw.db'}", extra=ONE_TRY)
    cases, (to_retry, to_discard) = await dead_letters(stack, samples_dir, 2)
    assert to_retry.last_error_code == "DELIVERY_ATTEMPTS_EXHAUSTED"
    admin = f"{stack.gateway_url}/admin/outbox"
    auth = {"Authorization": f"Bearer {token(stack)}"}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with http.get(admin, headers=headers) as resp:
                assert resp.status == 401
                assert resp.content_type == "application/problem+json"
                assert (await resp.json())["code"] == "ADMIN_AUTH_FAILED"

        async with http.get(admin, params={"state": "dead"}, headers=auth) as resp:
            listed = (await resp.json())["items"]
        assert {m["id"] for m in listed} == {to_retry.id, to_discard.id}

        async with http.get(f"{admin}/{to_retry.id}", headers=auth) as resp:
            assert resp.status == 200
            text = await resp.text()
        shown = json.loads(text)
        assert shown["record"]["case_no"] == cases[0].case_no  # the record is there...
        assert_no_personal_data(json.dumps(shown, ensure_ascii=False), cases[0])  # ...without its personal data
        assert shown["idempotency_key"] == to_retry.idem_key and shown["last_error_code"] == to_retry.last_error_code

        async with http.post(f"{admin}/{to_retry.id}/retry", headers=auth) as resp:
            assert resp.status == 200  # retried while g60 is still down: dead again after one more attempt
        await wait_for_async(lambda: _state_is(stack, to_retry.id, DEAD), what="dead again")
        stack.sims["g60"].plan.down_until = 0
        async with http.post(f"{admin}/{to_retry.id}/retry", headers=auth) as resp:
            assert resp.status == 200
        await wait_for_async(lambda: _state_is(stack, to_retry.id, DELIVERED), what="retried and delivered")
        delivered = await stack.store.get_message(to_retry.id)
        assert (delivered.idem_key, delivered.message_id) == (to_retry.idem_key, to_retry.message_id)
        book = stack.book("g60")
        [got] = book.snapshot("case")
        assert got["message_id"] == to_retry.message_id and got["key"] == f"case:{to_retry.idem_key}"

        async with http.post(f"{admin}/{to_retry.id}/retry", headers=auth) as resp:
            assert resp.status == 409  # only a dead letter can be retried
        async with http.delete(f"{admin}/{to_discard.id}", headers=auth) as resp:
            assert resp.status == 200
        async with http.get(f"{admin}/{to_discard.id}", headers=auth) as resp:
            assert resp.status == 404
        async with http.get(admin, params={"state": "bogus"}, headers=auth) as resp:
            assert resp.status == 400
    await asyncio.sleep(0.2)
    assert len(book.snapshot("case")) == 1  # the discarded one never went out


async def _state_is(stack: Stack, message_id: str, state: str) -> bool:
    message = await stack.store.get_message(message_id)
    return message is not None and message.state == state


def gateway_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), "outbox", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_outbox_cli_on_the_same_sqlite_file(
    make_stack: StackFactory, tmp_path: Path, samples_dir: Path, dev_folder: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    stack = await make_stack(url, extra=ONE_TRY)
    cases, (to_retry, to_discard) = await dead_letters(stack, samples_dir, 2)
    # the gateway's own data key (outbox payloads are sealed with it), named absolutely: the CLI runs elsewhere
    keys = {
        "key_file": str(dev_folder.parent / "var/dev/msglog-data.key"),
        "seal_key_file": str(dev_folder.parent / "var/dev/msglog-seal.pem"),
    }
    config = write_config(
        config_dict(dev_folder, url, {}, extra={**ONE_TRY, "message_log": keys}), tmp_path / "gateway.toml"
    )

    listed = await asyncio.to_thread(gateway_cli, config, "list", "--state", "dead")
    assert listed.returncode == 0, listed.stderr
    assert {json.loads(line)["id"] for line in listed.stdout.splitlines()} == {to_retry.id, to_discard.id}

    shown = await asyncio.to_thread(gateway_cli, config, "show", to_retry.id)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["record"]["case_no"] == cases[0].case_no
    assert_no_personal_data(shown.stdout, cases[0])

    stack.sims["g60"].plan.down_until = 0
    retried = await asyncio.to_thread(gateway_cli, config, "retry", to_retry.id)
    assert retried.returncode == 0, retried.stderr
    stack.worker.kick()  # the CLI wrote to the file; the running gateway finds it at its next poll anyway
    book = stack.book("g60")
    await wait_for(lambda: len(book.snapshot("case")) == 1, what="retried from the CLI and delivered")
    assert book.snapshot("case")[0]["message_id"] == to_retry.message_id

    discarded = await asyncio.to_thread(gateway_cli, config, "discard", to_discard.id)
    assert discarded.returncode == 0, discarded.stderr
    assert await stack.store.get_message(to_discard.id) is None
    again = await asyncio.to_thread(gateway_cli, config, "discard", to_discard.id)
    assert again.returncode == 1 and "not a dead letter" in again.stderr
