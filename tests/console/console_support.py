"""Building blocks of the console tests: the pipeline test stack with the console on a free port, and accounts."""

from __future__ import annotations

import functools
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))

import aiohttp
from pipeline_stack import Stack, StackFactory

from gateway.console import CONSOLE_URL
from gateway.console.auth import hash_password
from gateway.store.api import OperatorAccount

PASSWORDS = {"viewer": "viewer-password-1", "operator": "operator-password-1", "admin": "admin-password-12"}
ONE_TRY = {
    "delivery": {"destinations": {"g60": {"max_attempts": 1}}},
    "console": {"port": 0},
    "sync": {"links": ["hefei>yrd-map"]},
}


@dataclass
class ConsoleStack:
    stack: Stack
    url: str  # http://127.0.0.1:PORT/console/

    @property
    def origin(self) -> str:
        return self.url.removesuffix("/console/")


async def start_console_stack(make_stack: StackFactory, folder: Path, store_url: str | None = None) -> ConsoleStack:
    """A stack whose g60 gives up after one attempt, the console on a free port, one account per role; its store
    (``store_url``, or a SQLite file) and its message log are its own, the files in ``folder``."""
    extra = {**ONE_TRY, "message_log": {"url": f"sqlite:///{folder / 'msglog.db'}"}}
    stack = await make_stack(store_url or f"sqlite:///{folder / 'gateway.db'}", extra=extra)
    for role in PASSWORDS:
        await stack.store.put_operator(OperatorAccount(role, role, password_hash(role), time.time(), False))
    url = stack.app[CONSOLE_URL].url
    assert url is not None
    return ConsoleStack(stack, url)


@functools.cache
def password_hash(role: str) -> str:
    """The argon2id hash of ``PASSWORDS[role]``, made once per test process: a hash costs ~0.2 s of CPU by design, and
    some 45 console stacks each open three accounts. Each stack still stores it through the store and every login
    verifies it; ``add_user`` itself is tested in test_console_accounts.py."""
    return hash_password(PASSWORDS[role])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def login(http: aiohttp.ClientSession, cs: ConsoleStack, name: str, password: str | None = None) -> Any:
    async with http.get(cs.url + "login") as page:
        token = csrf_of(await page.text())
    form = {"csrf": token, "name": name, "password": password or PASSWORDS[name]}
    return await http.post(cs.url + "login", data=form, allow_redirects=False)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
