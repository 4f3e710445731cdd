"""Licence exchanges (一码办): who asked for which licence, under which consent, and how it ended; never the licence.

Read from the message log, searched by licence id (its indexed clear field). An exchange is the requester's query
(direction ``in``, the requester's platform) and what the gateway then did for it (:mod:`gateway.licences`): the
query forwarded to the issuing platform (``out``) and its answer (``in``, ``...:answer``). Its outcome is read from
that sequence: ``answered`` (the issuer answered), ``no_answer`` (forwarded, no answer logged), ``not_forwarded``
(refused before anything left the gateway, e.g. a consent that does not hold).

The consent shown is the token's ``jti``, audience (the requester), scope (the licence type) and validity, decoded
from the logged query (decrypted with the log's at-rest keys) without verifying it again: the gateway verified it
before forwarding. The holder (``sub``) and the licence's content are personal data and never shown; nor is any
answer body decrypted.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from gateway.msglog.api import EntrySummary
from gateway.server.keys import MSGLOG

from .keys import LOG_KEYS, MAIN
from .msglog_view import MAX_LICENCE_ID
from .render import page
from .security import ConsoleRefusal, require

__all__ = ["Exchange", "consent_claims", "exchanges", "licences_routes"]

_JWT: Final = re.compile(rb"eyJ[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")
_ID: Final = re.compile(r"[0-9A-Za-z.]+")  # an OID-style identifier (GB/T 36904)
SHOWN_CLAIMS: Final = ("jti", "aud", "scope", "iat", "exp")  # never sub: the holder


@dataclass(frozen=True, slots=True)
class Exchange:
    at: float
    requester: str
    licence_id: str
    consent: dict[str, Any]
    outcome: str
    issuer: str | None


def consent_claims(body: bytes | None) -> dict[str, Any]:
    """The shown claims of the first consent-like token (one with a ``jti``) in ``body``; empty when none."""
    for match in _JWT.finditer(body or b""):
        part = match.group(1)
        try:
            claims = json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(claims, dict) and "jti" in claims:
            return {k: claims[k] for k in SHOWN_CLAIMS if k in claims}
    return {}


def exchanges(entries: list[EntrySummary]) -> list[Exchange]:
    """The exchanges in ``entries`` (one licence's log entries, oldest first), newest first."""
    out: list[Exchange] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        if current is not None:
            out.append(Exchange(**current))

    for e in entries:
        answer = e.operation.endswith(":answer")
        if e.direction == "in" and not answer:
            close()
            current = {"at": e.at, "requester": e.platform, "licence_id": e.licence_id or "",
                       "consent": consent_claims(e.message), "outcome": "not_forwarded", "issuer": None}  # fmt: skip
        elif current is not None and e.direction == "out":
            current.update(outcome="no_answer", issuer=e.platform)
        elif current is not None and answer:
            current["outcome"] = "answered"
    close()
    return list(reversed(out))


@page("licences.html")
async def licences_page(request: web.Request) -> dict[str, Any]:
    require(request, "viewer")
    licence_id = request.rel_url.query.get("licence_id", "").strip()
    if licence_id and (len(licence_id) > MAX_LICENCE_ID or not _ID.fullmatch(licence_id)):
        raise ConsoleRefusal(400, "BAD_QUERY", "a licence id has letters, digits and dots only")
    main = request.app[MAIN]
    msglog, keys = main.get(MSGLOG), request.app[LOG_KEYS]
    found: list[Exchange] = []
    if licence_id and msglog is not None:
        # decrypted only to read the consent out of the requester's query; answers (the licence) are skipped
        entries = await msglog.search(licence_id=licence_id, limit=2000)
        queries = {e.seq for e in entries if e.direction == "in" and not e.operation.endswith(":answer")}
        if keys is not None and queries:
            opened = {e.seq: e for e in await msglog.search(licence_id=licence_id, keys=keys, limit=2000)}
            entries = [opened[e.seq] if e.seq in queries else e for e in entries]
        found = exchanges(entries)
    return {"page": "licences", "licence_id": licence_id, "found": found, "has_log": msglog is not None}


def licences_routes() -> list[web.RouteDef]:
    return [web.get("/console/licences", licences_page)]
