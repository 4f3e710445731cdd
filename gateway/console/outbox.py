"""Outbox and dead letters: the list (filter by state and destination), a message's page, retry and discard.

A message's page shows its envelope and outcome and the canonical record with personal data masked
(:func:`gateway.pipeline.operator.show`, masking by gateway/observability/masking.py). Retry and discard need the
operator role: for a viewer the buttons are not drawn and the POST is refused 403. Each asks for a confirmation
page first (no script: the confirmation is a form of its own) and is recorded in the message log.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from gateway.pipeline import operator
from gateway.server.keys import CLOCK, CONFIG, MSGLOG, STORE
from gateway.store.api import DEAD, STATES

from .audit import record_action
from .auth import may
from .keys import LOG_KEYS, MAIN
from .payload import CASE_KINDS, SignedPayload, last_signed_payload
from .render import page
from .security import ConsoleRefusal, require

__all__ = ["outbox_routes"]

PAGE: Final = 200
ACTIONS: Final = ("retry", "discard")


@page("outbox.html")
async def outbox_list(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    query = request.rel_url.query
    state = query.get("state") or None
    destination = query.get("destination") or None
    platforms = list(main[CONFIG].registry.platforms)
    if state is not None and state not in STATES:
        raise ConsoleRefusal(400, "BAD_QUERY", f"state must be one of {', '.join(sorted(STATES))}")
    if destination is not None and destination not in platforms:
        raise ConsoleRefusal(400, "BAD_QUERY", "destination must be a configured platform")
    items = await operator.list_summaries(main[STORE], state=state, destination=destination, limit=PAGE)
    return {
        "page": "outbox",
        "items": items,
        "state": state or "",
        "destination": destination or "",
        "states": sorted(STATES),
        "platforms": platforms,
    }


async def _found(request: web.Request) -> dict[str, Any]:
    found = await operator.show(request.app[MAIN][STORE], request.match_info["id"])
    if found is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such outbox message")
    return found


@page("message.html")
async def message_page(request: web.Request) -> dict[str, Any]:
    found = await _found(request)
    session = require(request, "viewer")
    main = request.app[MAIN]
    store = main[STORE]
    record = json.dumps(found.pop("record"), ensure_ascii=False, indent=2)
    signed: SignedPayload | None = None
    asked = request.rel_url.query.get("payload") == "1"
    msglog, keys = main.get(MSGLOG), request.app[LOG_KEYS]
    if asked and msglog is not None and keys is not None:
        message = await store.get_message(found["id"])
        signed = None if message is None else await last_signed_payload(msglog, keys, message)
    return {
        "page": "outbox",
        "m": found,
        "record": record,
        "receipt": found.pop("receipt", None),
        "attempt_rows": await store.list_attempts(found["id"]),
        "payload_asked": asked,
        "signed": signed,
        "can_act": may(session.role, "operator") and found["state"] == DEAD,
    }


def _action(request: web.Request) -> str:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such action")
    return action


@page("confirm.html")
async def confirm_page(request: web.Request) -> dict[str, Any]:
    require(request, "operator")
    action = _action(request)
    found = await _found(request)
    return {"page": "outbox", "m": found, "action": action}


async def act(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    action = _action(request)
    main = request.app[MAIN]
    store, now = main[STORE], main[CLOCK]()
    message = await store.get_message(request.match_info["id"])
    if message is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such outbox message")
    if action == "retry":
        done = await operator.retry(store, message.id, now)
    else:
        done = await operator.discard(store, message.id)
    case_no = message.idem_key.rsplit(":", 1)[0] if message.kind in CASE_KINDS else None
    await record_action(
        main.get(MSGLOG),
        at=now,
        who=session.name,
        role=session.role,
        action=action,
        target=message.id,
        outcome="done" if done else "not dead",
        case_no=case_no,
    )
    if not done:
        raise ConsoleRefusal(409, "NOT_DEAD", "only a dead letter can be retried or discarded")
    said = "retried" if action == "retry" else "discarded"
    where = f"/console/outbox/{message.id}" if action == "retry" else "/console/outbox?state=dead"
    where += ("&" if "?" in where else "?") + f"done={said}"
    raise web.HTTPSeeOther(where)


def outbox_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/outbox", outbox_list),
        web.get("/console/outbox/{id}", message_page),
        web.get("/console/outbox/{id}/{action}", confirm_page),
        web.post("/console/outbox/{id}/{action}", act),
    ]
