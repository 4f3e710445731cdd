"""Retry or discard many dead letters at once: the selection comes from the outbox list's check boxes, a
confirmation page lists what will be done, and its POST does it, one audited action per message.

Why one message-log entry per message and not one for the batch: an entry carries its message's case number, so a
search for the case shows the operator's action beside the exchanges, however it was selected.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from gateway.pipeline import operator
from gateway.server.keys import STORE

from .keys import MAIN
from .outbox import ACTIONS, apply_action
from .render import page
from .security import ConsoleRefusal, require

__all__ = ["MAX_SELECTED", "bulk_routes"]

MAX_SELECTED: Final = 200  # the list shows at most 200 messages: one page's worth
_ID: Final = re.compile(r"[0-9a-f]{32}")


def _selection(values: list[str]) -> list[str]:
    ids = list(dict.fromkeys(values))  # order kept, repeats dropped
    if not ids:
        raise ConsoleRefusal(400, "BAD_QUERY", "select at least one message")
    if len(ids) > MAX_SELECTED or not all(_ID.fullmatch(i) for i in ids):
        raise ConsoleRefusal(400, "BAD_QUERY", f"select 1-{MAX_SELECTED} messages of the list")
    return ids


def _action(value: object) -> str:
    if value not in ACTIONS:
        raise ConsoleRefusal(400, "BAD_QUERY", "action is retry or discard")
    return str(value)


@page("confirm_bulk.html")
async def confirm_bulk(request: web.Request) -> dict[str, Any]:
    require(request, "operator")
    query = request.rel_url.query
    action = _action(query.get("action"))
    store = request.app[MAIN][STORE]
    found = [await store.get_message(i) for i in _selection(query.getall("id", []))]
    return {"page": "outbox", "action": action, "items": [operator.summary(m) for m in found if m is not None]}


async def act_bulk(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    form = await request.post()
    action = _action(form.get("action"))
    ids = _selection([str(v) for v in form.getall("id", [])])
    store = request.app[MAIN][STORE]
    done = 0
    for message_id in ids:
        message = await store.get_message(message_id)
        if message is not None and await apply_action(request, session, store, action, message):
            done += 1
    said = "retried" if action == "retry" else "discarded"
    raise web.HTTPSeeOther(f"/console/outbox?state=dead&done={said}&n={done}")


def bulk_routes() -> list[web.RouteDef]:
    return [web.get("/console/outbox/bulk", confirm_bulk), web.post("/console/outbox/bulk", act_bulk)]
