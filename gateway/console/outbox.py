"""Outbox and dead letters: the list (filter by state, destination, source, code and time), a message's page, and
retry or discard of one message.

A message's page shows its envelope and outcome, its delivery attempts (time, outcome, code, latency: store
migration 9), the canonical record with personal data masked (:func:`gateway.pipeline.operator.show`, masking by
gateway/observability/masking.py) and, on request, the signed payload of its last attempt from the message log
(:mod:`.payload`, masked as well). Retry and discard need the operator role: for a viewer the buttons and the
selection boxes are not drawn and the POST is refused 403. Each asks for a confirmation page first (no script: the
confirmation is a form of its own) and is recorded in the message log. Many at once: :mod:`.bulk`.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from gateway.pipeline import operator
from gateway.server.keys import CLOCK, CONFIG, MSGLOG, STORE
from gateway.store.api import DEAD, STATES, OutboundMessage, Outbox

from .audit import record_action
from .auth import Session, may
from .filters import beijing_input, outbox_query
from .keys import LOG_KEYS, MAIN
from .payload import SignedPayload, case_no_of, last_signed_payload
from .render import page
from .security import ConsoleRefusal, require

__all__ = ["ACTIONS", "apply_action", "outbox_routes"]

PAGE: Final = 200
ACTIONS: Final = ("retry", "discard")


@page("outbox.html")
async def outbox_list(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    session = require(request, "viewer")
    platforms = list(main[CONFIG].registry.platforms)
    query = outbox_query(request.rel_url.query, platforms, PAGE)
    messages = await main[STORE].find_messages(query)
    return {
        "page": "outbox",
        "items": [operator.summary(m) for m in messages],
        "q": query,
        "q_from": beijing_input(query.created_from),
        "q_to": beijing_input(query.created_to),
        "states": sorted(STATES),
        "platforms": platforms,
        "can_act": may(session.role, "operator"),
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


def _action(name: str) -> str:
    if name not in ACTIONS:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such action")
    return name


@page("confirm.html")
async def confirm_page(request: web.Request) -> dict[str, Any]:
    require(request, "operator")
    action = _action(request.match_info["action"])
    found = await _found(request)
    return {"page": "outbox", "m": found, "action": action}


async def apply_action(
    request: web.Request, session: Session, store: Outbox, action: str, message: OutboundMessage
) -> bool:
    """Retry or discard one dead letter and record it (who, what, when, outcome) in the message log."""
    main = request.app[MAIN]
    now = main[CLOCK]()
    if action == "retry":
        done = await operator.retry(store, message.id, now)
    else:
        done = await operator.discard(store, message.id)
    await record_action(
        main.get(MSGLOG),
        at=now,
        who=session.name,
        role=session.role,
        action=action,
        target=message.id,
        outcome="done" if done else "not dead",
        case_no=case_no_of(message),
    )
    return done


async def act(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    action = _action(request.match_info["action"])
    store = request.app[MAIN][STORE]
    message = await store.get_message(request.match_info["id"])
    if message is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such outbox message")
    if not await apply_action(request, session, store, action, message):
        raise ConsoleRefusal(409, "NOT_DEAD", "only a dead letter can be retried or discarded")
    said = "retried" if action == "retry" else "discarded"
    where = (
        f"/console/outbox/{message.id}?done={said}" if action == "retry" else f"/console/outbox?state=dead&done={said}"
    )
    raise web.HTTPSeeOther(where)


def outbox_routes() -> list[web.RouteDef]:
    """The list and one message's pages (add :func:`.bulk.bulk_routes` BEFORE these: ``bulk`` is no id)."""
    return [
        web.get("/console/outbox", outbox_list),
        web.get("/console/outbox/{id}", message_page),
        web.get("/console/outbox/{id}/{action}", confirm_page),
        web.post("/console/outbox/{id}/{action}", act),
    ]
