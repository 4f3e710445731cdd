"""Pages from templates: the handler returns its values, :func:`page` adds what every page shows and renders.

(Not aiohttp-jinja2's context processors: they keep their state under a plain string request key, which aiohttp
warns about and the suite's ``filterwarnings = error`` turns into a failure.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web

from gateway.model.timefmt import BEIJING

from .i18n import LANGS, translate
from .login_state import LANG_COOKIE
from .security import SESSION

__all__ = ["DONE", "current_lang", "page", "render", "when"]

#: what a redirect after an action may announce (``?done=...``: no server-side flash, so any instance can show it)
DONE: Final = frozenset({"retried", "discarded", "saved", "sync_started"})

Values = Callable[[web.Request], Awaitable[dict[str, Any]]]


def current_lang(request: web.Request) -> str:
    """The session's language, else the language cookie's (the login page), else Chinese."""
    session = request.get(SESSION)
    cookie = request.cookies.get(LANG_COOKIE)
    return session.lang if session is not None else (cookie if cookie in LANGS else "zh")


def _common(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    lang = current_lang(request)
    done = request.rel_url.query.get("done", "")
    return {
        "session": session,
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "t": lambda key: translate(lang, key),
        "csrf": session.csrf if session else "",
        "done": done if done in DONE else "",
        "done_count": request.rel_url.query.get("n", "") if request.rel_url.query.get("n", "").isdigit() else "",
        "path": request.path,
    }


def render(request: web.Request, template: str, values: dict[str, Any], status: int = 200) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, {**_common(request), **values}, status=status)


def page(template: str) -> Callable[[Values], Callable[[web.Request], Awaitable[web.Response]]]:
    def wrap(handler: Values) -> Callable[[web.Request], Awaitable[web.Response]]:
        @wraps(handler)
        async def run(request: web.Request) -> web.Response:
            return render(request, template, await handler(request))

        return run

    return wrap


def when(seconds: float | None) -> str:
    """Unix seconds as Beijing time (the platforms' documents use it, README §4), ``-`` for none or 0."""
    if not seconds:
        return "-"
    return datetime.fromtimestamp(seconds, BEIJING).strftime("%Y-%m-%d %H:%M:%S")
