"""Who may use the console: roles, argon2 password hashes, sessions, CSRF tokens and the login throttle.

Pure parts with an injected clock, so the rules are testable without a server:

- a role grants everything the roles below it grant (viewer < operator < admin, issue 16: viewer reads, operator
  retries, discards and runs a sync, admin manages accounts);
- passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, salted); an unknown name is verified
  against a dummy hash too, so a login takes as long whether or not the account exists;
- a session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS); the server keeps only the
  token's SHA-256, the account name, role and a CSRF token, and forgets it after ``session_minutes`` idle. The book
  is bounded: past ``MAX_SESSIONS`` the least recently used session ends;
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

__all__ = [
    "MAX_SESSIONS",
    "MAX_TRACKED",
    "ROLES",
    "LoginThrottle",
    "Session",
    "SessionBook",
    "hash_password",
    "may",
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


@dataclass(slots=True)
class Session:
    """One signed-in operator. ``csrf`` goes into every form the session is shown and must come back with it."""

    name: str
    role: str
    csrf: str
    last_seen: float
    lang: str = "zh"
    flashes: list[str] = field(default_factory=list)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionBook:
    """The console's sessions, in memory (one console listener per instance; a restart signs everyone out)."""

    def __init__(self, idle_seconds: float, clock: Callable[[], float]) -> None:
        self._idle = idle_seconds
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, name: str, role: str) -> tuple[str, Session]:
        """A new session for ``name``: returns the cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(name, role, secrets.token_urlsafe(32), self._clock())
        self._sessions[_digest(token)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return token, session

    def find(self, token: str | None) -> Session | None:
        """The live session of ``token``, refreshed; None when unknown or idle too long (then it is dropped)."""
        if not token:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle:
            del self._sessions[key]
            return None
        session.last_seen = now
        self._sessions.move_to_end(key)
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._sessions.pop(_digest(token), None)


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
