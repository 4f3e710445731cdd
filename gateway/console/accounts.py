"""The admins' accounts page: create an account, change its role, disable it; each change audited.

Only the admin role reaches it (a viewer or an operator is refused 403, the link is not drawn for them). A role
change or a disabling ends every session of the account at once, on every instance (sessions live in the store),
so a demoted or disabled operator cannot go on with the role they had. Disabling replaces the password hash with a
value no password matches (as a spent one-time login is); setting a new password with ``gateway console add-user``
enables the account again. An admin cannot disable or demote their own account (the console would lose its last
admin by a slip).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.server.keys import CLOCK, MSGLOG, STORE
from gateway.store.api import OperatorAccount

from .audit import record_action
from .auth import ROLES, Session
from .keys import MAIN
from .login_state import BOOK
from .render import page
from .security import ConsoleRefusal, require
from .users import add_user

__all__ = ["DISABLED", "accounts_routes"]

DISABLED: Final = "!disabled"  # not an argon2 hash: verify_password refuses every password against it
_SPENT: Final = "!spent"


def _status(account: OperatorAccount) -> str:
    if account.password_hash == DISABLED:
        return "disabled"
    if account.password_hash == _SPENT:
        return "spent"
    return "one_time" if account.single_use else "active"


@page("accounts.html")
async def accounts_page(request: web.Request) -> dict[str, Any]:
    session = require(request, "admin")
    accounts = await request.app[MAIN][STORE].list_operators()
    rows = [{"name": a.name, "role": a.role, "status": _status(a), "created_at": a.created_at} for a in accounts]
    return {"page": "accounts", "accounts": rows, "roles": ROLES, "me": session.name}


async def _audit(request: web.Request, session: Session, action: str, target: str, outcome: str) -> None:
    main = request.app[MAIN]
    await record_action(
        main.get(MSGLOG), at=main[CLOCK](), who=session.name, role=session.role, action=action, target=target,
        outcome=outcome,
    )  # fmt: skip


def _role(value: object) -> str:
    if value not in ROLES:
        raise ConsoleRefusal(400, "BAD_QUERY", f"role must be one of {', '.join(ROLES)}")
    return str(value)


async def create_account(request: web.Request) -> web.StreamResponse:
    session = require(request, "admin")
    form = await request.post()
    name, role, password = str(form.get("name", "")).strip(), _role(form.get("role")), str(form.get("password", ""))
    store = request.app[MAIN][STORE]
    if await store.get_operator(name) is not None:
        raise ConsoleRefusal(409, "ACCOUNT_EXISTS", "an account of that name exists; change its role instead")
    try:
        await add_user(store, name, role, password, request.app[MAIN][CLOCK]())
    except ValueError as exc:  # its text names the rule broken, never the value given
        raise ConsoleRefusal(400, "BAD_QUERY", str(exc)) from exc
    await _audit(request, session, "account.create", name, role)
    raise web.HTTPSeeOther("/console/accounts?done=saved")


async def _account(request: web.Request, session: Session) -> OperatorAccount:
    account = await request.app[MAIN][STORE].get_operator(request.match_info["name"])
    if account is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such account")
    if account.name == session.name:
        raise ConsoleRefusal(403, "FORBIDDEN", "an admin cannot demote or disable their own account")
    return account


async def change_role(request: web.Request) -> web.StreamResponse:
    session = require(request, "admin")
    role = _role((await request.post()).get("role"))
    account = await _account(request, session)
    await request.app[MAIN][STORE].put_operator(
        OperatorAccount(account.name, role, account.password_hash, account.created_at, account.single_use)
    )
    await request.app[BOOK].end_all(account.name)
    await _audit(request, session, "account.role", account.name, f"{account.role}->{role}")
    raise web.HTTPSeeOther("/console/accounts?done=saved")


async def disable(request: web.Request) -> web.StreamResponse:
    session = require(request, "admin")
    account = await _account(request, session)
    await request.app[MAIN][STORE].put_operator(
        OperatorAccount(account.name, account.role, DISABLED, account.created_at, account.single_use)
    )
    await request.app[BOOK].end_all(account.name)
    await _audit(request, session, "account.disable", account.name, "done")
    raise web.HTTPSeeOther("/console/accounts?done=saved")


def accounts_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/accounts", accounts_page),
        web.post("/console/accounts", create_account),
        web.post("/console/accounts/{name}/role", change_role),
        web.post("/console/accounts/{name}/disable", disable),
    ]
