"""Every page of the console in a real headless Chromium, by keyboard alone: Tab from the top of each page reaches
every link, button and field on it (so every action can be done without a mouse), and each page's screenshot is
saved as a test artefact."""

from __future__ import annotations

import asyncio
from pathlib import Path

from browser import artefacts, browser, log_in, wait_for_id
from console_support import PASSWORDS, ConsoleStack
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_console_browser import make_dead_letters, shot

__all__ = ["artefacts", "browser"]

FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, summary"
DESCRIBE = (
    "return Array.from(document.querySelectorAll(arguments[0])).map("
    "e => e.id || e.getAttribute('href') || e.getAttribute('name') || e.textContent.trim().slice(0, 30))"
)


def unreached_by_tab(driver: webdriver.Chrome) -> list[str]:
    """Press Tab from the top of the page until the focus has gone round; what it never reached (by id, href, name
    or text)."""
    every = driver.execute_script(DESCRIBE, FOCUSABLE)
    driver.execute_script(
        "window.__tb = Array.from(document.querySelectorAll(arguments[0])); document.activeElement.blur();"
        "window.scrollTo(0, 0);",
        FOCUSABLE,
    )
    seen: set[int] = set()
    for _ in range(4 * len(every) + 20):  # a date-time field takes a Tab per part (year, month, day, ...)
        ActionChains(driver).send_keys(Keys.TAB).perform()
        index = driver.execute_script("return window.__tb.indexOf(document.activeElement)")
        if index >= 0:
            seen.add(index)
        if len(seen) == len(every):
            break
    return [name for i, name in enumerate(every) if i not in seen]


async def test_every_action_of_every_page_is_reached_by_keyboard_and_each_page_is_shot(
    console_stack: ConsoleStack, samples_dir: Path, browser: webdriver.Chrome, artefacts: Path
) -> None:
    cs, driver = console_stack, browser
    first, second = await make_dead_letters(cs, samples_dir, 2)
    case_no = first.idem_key.rsplit(":", 1)[0]

    def walk() -> dict[str, list[str]]:
        missed: dict[str, list[str]] = {}
        driver.get(cs.url + "login")
        shot(driver, artefacts, "page-login")
        missed["login"] = unreached_by_tab(driver)
        log_in(driver, cs.url, "admin", PASSWORDS["admin"])
        pages = {
            "overview": "",
            "outbox": "outbox?state=dead",
            "message": f"outbox/{first.id}?payload=1",
            "confirm": f"outbox/{first.id}/retry",
            "bulk-confirm": f"outbox/bulk?action=discard&id={first.id}&id={second.id}",
            "message-log": f"log?case_no={case_no}",
            "licences": "licences?licence_id=1.2.156",
            "sync": "sync",
            "config": "config",
            "accounts": "accounts",
        }
        for name, path in pages.items():
            driver.get(cs.url + path)
            assert driver.find_element(By.ID, "who").text == "admin", name
            shot(driver, artefacts, f"page-{name}")
            missed[name] = unreached_by_tab(driver)
        driver.get(cs.url + "log")
        driver.find_element(By.ID, "verify").click()
        wait_for_id(driver, "report")
        shot(driver, artefacts, "page-verify")
        missed["verify"] = unreached_by_tab(driver)
        return missed

    missed = await asyncio.to_thread(walk)
    assert missed == {name: [] for name in missed}
    assert len({p.name for p in artefacts.iterdir() if p.name.startswith("page-")}) == 12
