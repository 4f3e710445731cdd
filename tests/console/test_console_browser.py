"""The console in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium): an operator
logs in, sees a dead letter appear after g60's fault injection, opens it, retries it by keyboard alone and sees it
delivered; the overview's numbers equal /metrics; a viewer sees no retry button and its POST is refused 403; a form
without the CSRF token is refused; the message log verifies. Screenshots of each page go to the artefacts folder."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from browser import (
    artefacts,
    browser,
    click,
    csrf_on_page,
    fetch_blocked,
    log_in,
    post_form,
    press_enter,
    tab_to,
    wait_for_id,
)
from console_support import PASSWORDS, ConsoleStack
from pipeline_stack import sample, wait_for_async
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.common.by import By

from gateway.server.keys import METRICS
from gateway.store.api import DEAD, DELIVERED

__all__ = ["artefacts", "browser"]


async def make_dead_letters(cs: ConsoleStack, samples_dir: Path, n: int) -> list[Any]:
    """``n`` cases for a g60 that is down (fault injection), each a dead letter after its one attempt."""
    stack = cs.stack
    stack.sims["g60"].plan.down_until = time.time() + 3600
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    for version in range(1, n + 1):
        await stack.partner_client("hefei").submit("case", replace(base, version=version), f"b-{version}")
    found: list[Any] = []

    async def all_dead() -> bool:
        found[:] = await stack.store.list_messages(state=DEAD, destination="g60")
        return len(found) == n

    await wait_for_async(all_dead, timeout=30, what=f"{n} dead letters")
    return found


async def metrics_value(cs: ConsoleStack, sample_name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(cs.stack.gateway_url + "/metrics") as response:
        text = await response.text()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def shot(driver: webdriver.Chrome, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {name}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_an_operator_finds_a_dead_letter_retries_it_by_keyboard_and_sees_it_delivered(
    console_stack: ConsoleStack, samples_dir: Path, browser: webdriver.Chrome, artefacts: Path
) -> None:
    cs, driver = console_stack, browser
    first, second = await make_dead_letters(cs, samples_dir, 2)
    applicant = sample(cs.stack.config, samples_dir, "anhui", "case", "SC001.json").applicant

    def find_it() -> None:
        log_in(driver, cs.url, "operator", PASSWORDS["operator"])
        assert driver.find_element(By.ID, "who").text == "operator"
        row = driver.find_element(By.CSS_SELECTOR, 'tr[data-platform="g60"] td[data-col="dead"]')
        assert row.text == "2" and "red" in (row.get_attribute("class") or "")  # red: dead letters
        shot(driver, artefacts, "overview")
        click(driver, row.find_element(By.TAG_NAME, "a"))  # the overview links to g60's dead letters
        ids = [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#messages tr[data-id]")]
        assert sorted(ids) == sorted([first.id, second.id])
        shot(driver, artefacts, "dead-letters")
        click(driver, driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{first.id}"] a'))
        assert driver.find_element(By.ID, "state").text == DEAD
        record = driver.find_element(By.ID, "record").text
        for value in (applicant.name, applicant.id_number, applicant.phone):
            assert value and value not in record, "a personal value is shown unmasked"
        shot(driver, artefacts, "message")

    await asyncio.to_thread(find_it)
    cs.stack.sims["g60"].plan.down_until = 0.0  # g60 is back

    def retry_by_keyboard() -> None:
        tab_to(driver, "retry")
        press_enter(driver)
        assert driver.current_url.endswith(f"/outbox/{first.id}/retry")
        shot(driver, artefacts, "confirm")
        tab_to(driver, "confirm")
        press_enter(driver)

    await asyncio.to_thread(retry_by_keyboard)

    async def delivered() -> bool:
        return (await cs.stack.store.get_message(first.id)).state == DELIVERED

    await wait_for_async(delivered, timeout=30, what="the retried dead letter delivered")

    def see_it_delivered() -> tuple[str, str]:
        driver.get(cs.url + f"outbox/{first.id}")
        assert driver.find_element(By.ID, "state").text == DELIVERED
        shot(driver, artefacts, "delivered")
        driver.get(cs.url)
        row = 'tr[data-platform="g60"] td[data-col="{}"]'
        return (
            driver.find_element(By.CSS_SELECTOR, row.format("delivered")).text,
            driver.find_element(By.CSS_SELECTOR, row.format("accepted")).text,
        )

    shown_delivered, _ = await asyncio.to_thread(see_it_delivered)
    assert (
        float(shown_delivered)
        == await metrics_value(cs, "tongban_delivery_attempts_total", destination="g60", outcome="delivered")
        == 1.0
    )
    shown_accepted = await asyncio.to_thread(
        lambda: driver.find_element(By.CSS_SELECTOR, 'tr[data-platform="hefei"] td[data-col="accepted"]').text
    )
    assert (
        float(shown_accepted)
        == await metrics_value(cs, "tongban_requests_total", platform="hefei", outcome="accepted")
        == 2.0
    )

    def the_log_verifies(case_no: str) -> None:
        driver.get(cs.url + f"log?case_no={case_no}")
        operations = [tr.get_attribute("data-operation") for tr in driver.find_elements(By.CSS_SELECTOR, "#entries tr")]
        assert "console.retry" in operations
        tab_to(driver, "verify")
        press_enter(driver)  # the verification runs as a job; its page reloads itself until the report is there
        report = wait_for_id(driver, "report")
        assert "ok" in (report.get_attribute("class") or "")
        shot(driver, artefacts, "message-log")
        for page in ("sync", "config"):
            driver.get(cs.url + page)
            shot(driver, artefacts, page)

    await asyncio.to_thread(the_log_verifies, first.idem_key.rsplit(":", 1)[0])
    assert {p.name for p in artefacts.iterdir()} >= {
        "overview.png",
        "dead-letters.png",
        "message.png",
        "confirm.png",
        "delivered.png",
        "message-log.png",
    }


async def test_a_viewer_cannot_retry_and_a_form_without_csrf_is_refused(
    console_stack: ConsoleStack, samples_dir: Path, browser: webdriver.Chrome, artefacts: Path
) -> None:
    cs, driver = console_stack, browser
    (dead,) = await make_dead_letters(cs, samples_dir, 1)

    def as_viewer() -> None:
        log_in(driver, cs.url, "viewer", PASSWORDS["viewer"])
        driver.get(cs.url + f"outbox/{dead.id}")
        assert driver.find_elements(By.ID, "retry") == [] and driver.find_elements(By.ID, "discard") == []
        shot(driver, artefacts, "viewer-message")
        assert fetch_blocked(driver, f"/console/outbox/{dead.id}/retry")  # the CSP: no script connects anywhere
        assert post_form(driver, f"/console/outbox/{dead.id}/retry", {"csrf": csrf_on_page(driver)}) == "FORBIDDEN"
        assert "403" in driver.find_element(By.TAG_NAME, "h1").text
        shot(driver, artefacts, "viewer-refused")
        driver.get(cs.url + f"outbox/{dead.id}/retry")  # the confirmation page is refused as well
        assert driver.find_element(By.ID, "code").text == "FORBIDDEN"
        log_in(driver, cs.url, "operator", PASSWORDS["operator"])
        driver.get(cs.url + f"outbox/{dead.id}")
        assert driver.find_elements(By.ID, "retry")  # the operator has the button
        assert post_form(driver, f"/console/outbox/{dead.id}/retry", {}) == "CSRF_INVALID"
        assert "403" in driver.find_element(By.TAG_NAME, "h1").text
        shot(driver, artefacts, "csrf-refused")

    await asyncio.to_thread(as_viewer)
    assert (await cs.stack.store.get_message(dead.id)).state == DEAD
    metrics = cs.stack.app[METRICS].exposition().decode()
    assert 'tongban_console_refusals_total{code="FORBIDDEN"} 2.0' in metrics
    assert 'tongban_console_refusals_total{code="CSRF_INVALID"} 1.0' in metrics
