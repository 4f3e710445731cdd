"""The login's state keys and cookie names, apart from the handlers so that rendering can read them."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .auth import LoginThrottle, SessionBook

__all__ = ["BOOK", "LANG_COOKIE", "THROTTLE"]

BOOK: web.AppKey[SessionBook] = web.AppKey("console_sessions", SessionBook)
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("console_throttle", LoginThrottle)
LANG_COOKIE: Final = "tb_lang"
