"""Creating operator accounts: ``gateway console add-user`` and the one-time admin of ``gateway demo``."""

from __future__ import annotations

import secrets

from gateway.store.api import OperatorAccount, OperatorAccounts

from .auth import ROLES, hash_password

__all__ = ["add_user", "one_time_admin"]


async def add_user(
    store: OperatorAccounts, name: str, role: str, password: str, now: float, *, single_use: bool = False
) -> None:
    """Create (or replace) the account ``name``; ValueError for a bad name, role or too short a password."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
        raise ValueError("a name has 1-64 printable characters without leading or trailing spaces")
    await store.put_operator(OperatorAccount(name, role, hash_password(password), now, single_use))


async def one_time_admin(store: OperatorAccounts, now: float) -> tuple[str, str]:
    """A fresh admin account whose password works for one login; returns (name, password) to print once."""
    name = f"demo-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(15)
    await add_user(store, name, "admin", password, now, single_use=True)
    return name, password
