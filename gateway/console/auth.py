"""Who may use the console: roles, argon2 password hashes, sessions, CSRF tokens and the login throttle.

Pure parts with an injected clock, so the rules are testable without a server:

- a role grants everything the roles below it grant (viewer < operator < admin, issue 16: viewer reads, operator
  retries, discards and runs a sync, admin manages accounts);
- passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, salted); an unknown name is verified
  against a dummy hash too, so a login takes as long whether or not the account exists;
- a session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS); the store keeps only the
  token's SHA-256, the account name, role, language and a CSRF token (shared by every instance on it), and forgets
  it after ``session_minutes`` idle. The table is bounded: past ``MAX_SESSIONS`` the least recently seen end;
- the throttle refuses a login for ``lockout_seconds`` once a client address, or an account name, has failed
  ``login_attempts`` times within that time; it remembers at most ``MAX_TRACKED`` keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.store.api import ConsoleSession, ConsoleSessions

__all__ = [
    "MAX_SESSIONS",
    "MAX_TRACKED",
    "ROLES",
    "LoginThrottle",
    "Session",
    "SessionBook",
    "hash_password",
    "may",
    "token_digest",
    "verify_password",
]

ROLES: Final = ("viewer", "operator", "admin")
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
MAX_SESSIONS: Final = 10_000
MAX_TRACKED: Final = 10_000
MIN_PASSWORD: Final = 12  # characters; a console reaches the outbox of every partner

_hasher = PasswordHasher()  # stateless parameters (argon2id, t=3, 64 MiB, p=4): safe to share
_DUMMY: Final = _hasher.hash(secrets.token_urlsafe(16))  # verified for unknown names: equal time either way


def may(role: str, needed: str) -> bool:
    """True when ``role`` grants what ``needed`` grants (an unknown role grants nothing)."""
    return role in _RANK and _RANK[role] >= _RANK[needed]


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt included) of ``password``; refuses one shorter than ``MIN_PASSWORD``."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a console password has at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no such account, checked against a dummy hash anyway)."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in operator. ``csrf`` goes into every form the session is shown and must come back with it;
    ``key`` is the SHA-256 of the cookie token (what the store keeps)."""

    key: str
    name: str
    role: str
    csrf: str = field(repr=False)
    lang: str = "zh"

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionBook:
    """The console's sessions, kept in the store (migration 10) so that every instance on it knows them: a login
    on one instance works on the next one behind the load balancer, and a restart signs nobody out."""

    def __init__(self, store: Callable[[], ConsoleSessions], idle_seconds: float, clock: Callable[[], float]) -> None:
        self._store = store
        self._idle = idle_seconds
        self._clock = clock

    async def open(self, name: str, role: str, lang: str = "zh") -> tuple[str, Session]:
        """A new session for ``name``: returns the cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        kept = ConsoleSession(token_digest(token), name, role, secrets.token_urlsafe(32), lang, now)
        await self._store().put_session(kept, now - self._idle, MAX_SESSIONS)
        return token, Session(kept.token_sha256, name, role, kept.csrf, lang)

    async def find(self, token: str | None) -> Session | None:
        """The live session of ``token``, refreshed; None when unknown or idle too long (then it is dropped)."""
        if not token or len(token) > 128:
            return None
        now = self._clock()
        kept = await self._store().touch_session(token_digest(token), now - self._idle, now)
        if kept is None:
            return None
        return Session(kept.token_sha256, kept.name, kept.role, kept.csrf, kept.lang)

    async def set_lang(self, session: Session, lang: str) -> None:
        await self._store().update_session(session.key, lang)

    async def close(self, token: str | None) -> None:
        if token and len(token) <= 128:
            await self._store().end_sessions(token_sha256=token_digest(token))

    async def end_all(self, name: str) -> int:
        """End every session of the account ``name`` (its role changed, or it was disabled)."""
        return await self._store().end_sessions(name=name)


class LoginThrottle:
    """Failed logins per key (``addr:<ip>``, ``name:<account>``) within a sliding window."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float]) -> None:
        self._attempts = attempts
        self._window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self._clock() - self._window
        while times and times[0] <= horizon:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login for ``keys`` may be tried again; 0 when it may now."""
        wait = 0.0
        for key in keys:
            times = self._recent(key)
            if len(times) >= self._attempts:
                wait = max(wait, times[-self._attempts] + self._window - self._clock())
        return max(wait, 0.0)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            times = self._recent(key)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
