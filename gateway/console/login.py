"""Logging in and out, and the language switch.

A login is throttled per client address and per account name (:class:`~.auth.LoginThrottle`), checked with argon2
off the event loop, and recorded in the message log whatever its outcome (the name tried is recorded only for an
existing account: a mistyped password pasted into the name field must not land in the log). A single-use account
(the one-time login ``gateway demo`` prints) is spent by its first successful login.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Final

from aiohttp import web

from gateway.server.keys import CLOCK, MSGLOG, STORE

from .audit import record_action
from .auth import verify_password
from .i18n import LANGS
from .keys import MAIN
from .login_state import BOOK, LANG_COOKIE, THROTTLE
from .render import render
from .security import LOGIN_COOKIE, SESSION, SESSION_COOKIE, ConsoleRefusal, require

__all__ = ["BOOK", "LANG_COOKIE", "THROTTLE", "login_routes"]

MAX_NAME: Final = 64
MAX_PASSWORD: Final = 1024  # argon2 takes any length; this bounds the work a request can ask for


def _cookie_flags(request: web.Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Strict", "secure": request.secure, "path": "/console/"}


async def login_form(request: web.Request) -> web.StreamResponse:
    # the same token for every login page of this browser (two tabs, a reload): only the latest cookie counts
    kept = request.cookies.get(LOGIN_COOKIE, "")
    token = kept if len(kept) == 32 and kept.replace("-", "").replace("_", "").isalnum() else secrets.token_urlsafe(24)
    response = render(request, "login.html", {"page": "login", "login_csrf": token})
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, **_cookie_flags(request))
    return response


async def login(request: web.Request) -> web.StreamResponse:
    main = request.app[MAIN]
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    if not name or len(name) > MAX_NAME or len(password) > MAX_PASSWORD:
        raise ConsoleRefusal(400, "BAD_QUERY", f"a name has 1-{MAX_NAME} characters")
    throttle = request.app[THROTTLE]
    keys = (f"addr:{request.remote}", f"name:{name}")
    wait = throttle.retry_after(*keys)
    if wait > 0:
        raise ConsoleRefusal(
            429,
            "LOGIN_THROTTLED",
            "too many failed logins; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    store, now = main[STORE], main[CLOCK]()
    account = await store.get_operator(name)
    stored = account.password_hash if account is not None else None
    ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, stored, password)
    if ok and account is not None and account.single_use:
        ok = await store.spend_single_use(account.name, account.password_hash)
    msglog = main.get(MSGLOG)
    if not ok or account is None:
        throttle.failed(*keys)
        await record_action(
            msglog,
            at=now,
            who=name if account is not None else "(unknown name)",
            role="-",
            action="login",
            target="console",
            outcome="failed",
        )
        raise ConsoleRefusal(401, "LOGIN_FAILED", "wrong name or password")
    throttle.succeeded(*keys)
    book = request.app[BOOK]
    await book.close(request.cookies.get(SESSION_COOKIE))  # a fresh session id at every login (no fixation)
    lang = request.cookies.get(LANG_COOKIE, "zh") if request.cookies.get(LANG_COOKIE) in LANGS else "zh"
    token, _ = await book.open(account.name, account.role, lang)
    await record_action(
        msglog, at=now, who=account.name, role=account.role, action="login", target="console", outcome="ok"
    )
    response = web.HTTPSeeOther("/console/")
    response.set_cookie(SESSION_COOKIE, token, **_cookie_flags(request))
    response.del_cookie(LOGIN_COOKIE, path="/console/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = require(request, "viewer")
    main = request.app[MAIN]
    await request.app[BOOK].close(request.cookies.get(SESSION_COOKIE))
    await record_action(
        main.get(MSGLOG),
        at=main[CLOCK](),
        who=session.name,
        role=session.role,
        action="logout",
        target="console",
        outcome="ok",
    )
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console/")
    raise response


async def language(request: web.Request) -> web.StreamResponse:
    """``POST /console/lang`` with ``lang=zh|en``: the session's language, remembered in a cookie for the login."""
    form = await request.post()
    lang = str(form.get("lang", "zh"))
    if lang not in LANGS:
        raise ConsoleRefusal(400, "BAD_QUERY", "lang is zh or en")
    session = request[SESSION]
    if session is not None:
        await request.app[BOOK].set_lang(session, lang)
    back = str(form.get("back", "/console/"))
    response = web.HTTPSeeOther(back if back.startswith("/console/") and "//" not in back else "/console/")
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, **_cookie_flags(request))
    raise response


def login_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/login", login_form),
        web.post("/console/login", login),
        web.post("/console/logout", logout),
        web.post("/console/lang", language),
    ]
