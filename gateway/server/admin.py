"""The admin API: the outbox for operators, behind its own bearer credential.

    GET    /admin/outbox?state=dead&destination=hefei&limit=100&offset=0   summaries
    GET    /admin/outbox/{id}                                              one message, personal data masked
    POST   /admin/outbox/{id}/retry                                        a dead letter back to pending
    DELETE /admin/outbox/{id}                                              discard a dead letter
    GET    /admin/delivery                                                 this instance's breakers, sends in
                                                                           flight, outcome counts, outbox figures

The token is a file (``[admin] token_file``), generated on first start for the embedded default; it is compared in
constant time and never logged.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from aiohttp import web

from gateway.config import Config
from gateway.errors import PROBLEM_TYPE_BASE, ConfigError
from gateway.pipeline import operator
from gateway.store.api import STATES
from signing.errors import KeyInvalid
from signing.secret import Secret, secret_from_env

from .keys import CLOCK, STORE, WORKER
from .problems import problem_response

__all__ = ["MAX_OFFSET", "MAX_PAGE", "admin_routes", "ensure_admin_token", "page_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ensure_admin_token(config: Config, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The admin credential: from ``[admin] token_env`` when set, else its file (created with a random token if the
    file is missing)."""
    if config.admin_token_env is not None:
        try:
            return secret_from_env(config.admin_token_env, dict(environ if environ is not None else os.environ))
        except KeyInvalid as exc:
            raise ConfigError(
                config.source, "admin.token_env", f"{config.admin_token_env} is not set", "export it, or use token_file"
            ) from exc
    path = config.admin_token_file
    if path is None:
        return None
    if not path.exists():
        _create_whole(path, secrets.token_urlsafe(32))
    return Secret(path.read_text(encoding="ascii").strip())


def _create_whole(path: Path, token: str) -> None:
    """Create ``path`` holding ``token``, or leave the one another process made first.

    Why through a private file and a hard link: ``serve --workers`` starts its workers on a fresh folder at the same
    moment; with the file created in place, one worker could read it while another had created it but not yet
    written it (an empty token, the worker dead at start), or fail its own exclusive create. A link appears whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(token)
        with contextlib.suppress(FileExistsError):  # another worker's token is the one
            os.link(private, path)
    finally:
        private.unlink()


MAX_PAGE = 1000  # summaries per page; a larger limit is served as this many
MAX_OFFSET = 1_000_000_000  # past any outbox; a larger offset overflowed the store's integer (issue 11 item 6)


def _problem(status: int, code: str, title: str, detail: str | None = None) -> web.Response:
    problem = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "code": code}
    if detail is not None:
        problem["detail"] = detail
    return problem_response(problem)


def page_of(query: Mapping[str, str]) -> tuple[int, int] | str:
    """(limit, offset) of an outbox listing, or why the query is refused (issue 11 item 6: a negative limit or a
    huge offset reached the store and came back as a 500)."""
    try:
        limit = int(query.get("limit", "100"))
        offset = int(query.get("offset", "0"))
    except ValueError:
        return "limit and offset are whole numbers"
    if limit < 1:
        return "limit must be at least 1"
    if not 0 <= offset <= MAX_OFFSET:
        return f"offset must be between 0 and {MAX_OFFSET}"
    return min(limit, MAX_PAGE), offset


def admin_routes(token: Secret | None) -> list[web.RouteDef]:
    def guarded(handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "")
            if (
                token is None
                or not given.startswith("Bearer ")
                or not hmac.compare_digest(given[7:].encode(), token.reveal())
            ):
                return _problem(401, "ADMIN_AUTH_FAILED", "Admin credential missing or wrong")
            return await handler(request)

        return check

    async def list_outbox(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        state = query.get("state")
        if state is not None and state not in STATES:
            return _problem(400, "BAD_QUERY", f"state must be one of {', '.join(sorted(STATES))}")
        page = page_of(query)
        if isinstance(page, str):
            return _problem(400, "BAD_QUERY", "Bad outbox query", page)
        limit, offset = page
        items = await operator.list_summaries(
            request.app[STORE], state=state, destination=query.get("destination"), limit=limit, offset=offset
        )
        return web.json_response({"items": items})

    async def show(request: web.Request) -> web.StreamResponse:
        found = await operator.show(request.app[STORE], request.match_info["id"])
        if found is None:
            return _problem(404, "NOT_FOUND", "No such outbox message")
        return web.json_response(found)

    async def retry(request: web.Request) -> web.StreamResponse:
        if not await operator.retry(request.app[STORE], request.match_info["id"], request.app[CLOCK]()):
            return _problem(409, "NOT_DEAD", "Only a dead letter can be retried")
        return web.json_response({"retried": request.match_info["id"]})

    async def discard(request: web.Request) -> web.StreamResponse:
        if not await operator.discard(request.app[STORE], request.match_info["id"]):
            return _problem(409, "NOT_DEAD", "Only a dead letter can be discarded")
        return web.json_response({"discarded": request.match_info["id"]})

    async def delivery(request: web.Request) -> web.StreamResponse:
        """Why is the backlog not moving? Per destination: this instance's breaker and the shared outbox figures."""
        worker = request.app[WORKER]
        stats = await request.app[STORE].outbox_stats(request.app[CLOCK]())
        return web.json_response(
            {
                "owner": worker.owner,
                "in_flight": worker.in_flight,
                "outcomes": dict(worker.counts),
                "breakers": {name: state.value for name, state in worker.breakers.states().items()},
                "outbox": {
                    name: {
                        "pending": s.pending,
                        "delivering": s.delivering,
                        "dead": s.dead,
                        "oldest_pending_age": s.oldest_pending_age,
                    }
                    for name, s in stats.items()
                },
            }
        )

    return [
        web.get("/admin/delivery", guarded(delivery)),
        web.get("/admin/outbox", guarded(list_outbox)),
        web.get("/admin/outbox/{id}", guarded(show)),
        web.post("/admin/outbox/{id}/retry", guarded(retry)),
        web.delete("/admin/outbox/{id}", guarded(discard)),
    ]
