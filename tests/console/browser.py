"""A real headless Chromium for the console's browser tests: Debian's ``chromium`` driven through its
``chromium-driver`` by selenium (installed by the test setup where missing and apt may be used, as promtool is).

Selenium is synchronous and the gateway under test runs on the test's event loop, so every browser step runs in a
thread (``asyncio.to_thread``) while the loop keeps serving.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when missing (as root, where apt exists)."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
        ):
            subprocess.run(command, env=env, capture_output=True, timeout=1800, check=False)
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("the console's browser tests need Debian's chromium and chromium-driver (apt-get install ...)")


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    """Where the screenshots go: $TONGBAN_ARTEFACTS/console (kept by CI) or the test's tmp_path."""
    root = os.environ.get("TONGBAN_ARTEFACTS")
    folder = Path(root) / "console" if root else tmp_path / "artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: webdriver.Chrome, url: str, name: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(url + "login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    navigate(driver, lambda: driver.find_element(By.ID, "login").click())
    wait_for_id(driver, "who")


def wait_for_id(driver: webdriver.Chrome, element_id: str) -> WebElement:
    """The element ``element_id`` once a page that has it is shown. Pages that reload themselves (a verification or a
    sync run in progress) replace the document under the poll: a lookup racing a navigation fails with a
    WebDriverException of the moment (no such element, a node of the old document), so those are polled past."""
    found: WebElement = WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )
    return found


def navigate(driver: webdriver.Chrome, action: Callable[[], object]) -> None:
    """Do ``action`` (a click, a key) and wait until the browser has left the page it was on."""
    old: WebElement = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(old))


def click(driver: webdriver.Chrome, element: WebElement) -> None:
    navigate(driver, element.click)


def tab_to(driver: webdriver.Chrome, element_id: str, limit: int = 60) -> None:
    """Press Tab (keyboard only) until the element ``element_id`` has the focus."""
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def press_enter(driver: webdriver.Chrome) -> None:
    """Enter on the focused link or button, and wait for the page it leads to."""
    navigate(driver, ActionChains(driver).send_keys(Keys.ENTER).perform)


def post_form(driver: webdriver.Chrome, path: str, form: dict[str, str]) -> str:
    """Submit a form the page did not offer (as a hand-made or forged form would be), return the refusal code
    shown, or "" when none. (A script's fetch would not do: the console's CSP allows no connections at all.)"""
    navigate(
        driver,
        lambda: driver.execute_script(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
            "for (const [k, v] of Object.entries(arguments[1])) {"
            "  const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;"
            "  f.appendChild(i); }"
            "document.body.appendChild(f); f.submit();",
            path,
            form,
        ),
    )
    codes = driver.find_elements(By.ID, "code")
    return codes[0].text if codes else ""


def fetch_blocked(driver: webdriver.Chrome, path: str) -> bool:
    """True when the page may not connect anywhere by script (the CSP's default-src 'none')."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST'}).then(r => done('answered ' + r.status), e => done('blocked'));"
    )
    return bool(driver.execute_async_script(script, path) == "blocked")


def csrf_on_page(driver: webdriver.Chrome) -> str:
    value: str = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value") or ""
    return value
