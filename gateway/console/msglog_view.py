"""The message log pages: search (case number, licence id or message id, narrowed by platform, direction and time),
each entry's evidence, and "verify chain" as a job with a progress page (:mod:`.verify_job`).

The log is indexed by case number and licence id only (the clear search fields, :mod:`gateway.msglog.api`); a
message id is first looked up in the outbox for its case number, so a search needs one of the three, as ``gateway
log search`` does. Platform, direction and time narrow the entries found. Message contents are never shown here
(they are personal data); a message's signed payload, masked, is on its outbox page.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from gateway.dialects import dialect
from gateway.msglog.api import DIRECTIONS, EntrySummary
from gateway.server.keys import CLOCK, CONFIG, MSGLOG, STORE
from gateway.store.api import OutboxQuery

from .audit import record_action
from .evidence_view import describe
from .filters import beijing_input, choice, time_bound
from .keys import MAIN, VERIFY_JOBS
from .payload import case_no_of
from .render import page
from .security import ConsoleRefusal, require
from .verify_job import VerifyJob

__all__ = ["MAX_LICENCE_ID", "msglog_routes"]

MAX_FIELD: Final = 64  # longer than any case number (README §3: at most 32) or message id
MAX_LICENCE_ID: Final = 128  # an OID-style licence identifier (GB/T 36904) runs to about 90 characters
LIMIT: Final = 1000
_SAFE: Final = re.compile(r"[\w.:/\-]+")


def _field(query: Any, name: str, most: int = MAX_FIELD) -> str:
    value = str(query.get(name, "")).strip()
    if value and (len(value) > most or not _SAFE.fullmatch(value)):
        raise ConsoleRefusal(400, "BAD_QUERY", f"{name} has at most {most} letters, digits and . : / - _")
    return value


@page("log.html")
async def log_search(request: web.Request) -> dict[str, Any]:
    require(request, "viewer")
    main = request.app[MAIN]
    query = request.rel_url.query
    case_no, message_id = _field(query, "case_no"), _field(query, "message_id")
    licence_id = _field(query, "licence_id", MAX_LICENCE_ID)
    platforms = [*main[CONFIG].registry.platforms, "console"]
    describers = {pid: dialect(p.dialect).describe_evidence for pid, p in main[CONFIG].registry.platforms.items()}
    platform = choice(query, "platform", platforms)
    direction = choice(query, "direction", DIRECTIONS)
    since, until = time_bound(query, "from"), time_bound(query, "to")
    msglog = main.get(MSGLOG)
    searched = bool(case_no or licence_id or message_id)
    note = ""
    entries: list[EntrySummary] = []
    if msglog is not None and searched:
        if message_id and not case_no and not licence_id:
            found = await main[STORE].find_messages(OutboxQuery(message_id=message_id, limit=1))
            case_no = (case_no_of(found[0]) or "") if found else ""
            note = "" if case_no else "message_id_unknown"
        if case_no or licence_id:
            entries = await msglog.search(case_no=case_no or None, licence_id=licence_id or None, limit=LIMIT)
        entries = [
            e
            for e in entries
            if (not message_id or e.message_id == message_id)
            and (platform is None or e.platform == platform)
            and (direction is None or e.direction == direction)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]
    return {
        "page": "msglog",
        "q": {
            "case_no": case_no,
            "licence_id": licence_id,
            "message_id": message_id,
            "platform": platform or "",
            "direction": direction or "",
            "from": beijing_input(since),
            "to": beijing_input(until),
        },
        "platforms": platforms,
        "searched": searched,
        "note": note,
        "rows": [(e, describe(e.direction, e.operation, e.evidence, describers.get(e.platform))) for e in entries],
        "has_log": msglog is not None,
    }


async def log_verify(request: web.Request) -> web.StreamResponse:
    """Start (or join) a verification of the whole chain and every seal; answer with its progress page."""
    session = require(request, "viewer")
    main = request.app[MAIN]
    msglog = main.get(MSGLOG)
    if msglog is None:
        raise ConsoleRefusal(409, "NO_MESSAGE_LOG", "no message log is configured ([message_log])")
    after = main[CONFIG].retention.message_log_after  # a cut of what the policy still keeps is a removal

    async def verify() -> Any:
        return await msglog.verify(kept_since=None if after is None else main[CLOCK]() - after)

    async def done(job: VerifyJob) -> None:
        outcome = "failed" if job.report is None else ("ok" if job.report.ok else "broken")
        await record_action(msglog, at=main[CLOCK](), who=session.name, role=session.role, action="verify",
                            target="message-log", outcome=outcome)  # fmt: skip

    job = request.app[VERIFY_JOBS].start(session.name, verify, done)
    raise web.HTTPSeeOther(f"/console/log/verify/{job.id}")


@page("verify.html")
async def verify_page(request: web.Request) -> dict[str, Any]:
    require(request, "viewer")
    job = request.app[VERIFY_JOBS].get(request.match_info["job"])
    if job is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such verification on this instance; start one again")
    now = request.app[MAIN][CLOCK]()
    return {"page": "msglog", "job": job, "elapsed": (job.ended or now) - job.started}


def msglog_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/log", log_search),
        web.post("/console/log/verify", log_verify),
        web.get("/console/log/verify/{job}", verify_page),
    ]
