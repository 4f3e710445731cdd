"""The console's rules without a server: roles, password hashes, sessions, the login throttle, redaction, and the
``[console]`` settings."""

from __future__ import annotations

import pytest

from gateway.config import ConsoleSettings, parse_config
from gateway.console.auth import (
    MIN_PASSWORD,
    LoginThrottle,
    SessionBook,
    hash_password,
    may,
    token_digest,
    verify_password,
)
from gateway.console.redact import REDACTED, redacted_settings
from gateway.errors import ConfigError
from gateway.store import open_store
from gateway.store.api import ConsoleSession


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_role_grants_what_the_roles_below_it_grant() -> None:
    assert may("admin", "operator") and may("operator", "operator") and may("operator", "viewer")
    assert not may("viewer", "operator") and not may("operator", "admin") and not may("root", "viewer")


def test_passwords_are_argon2id_salted_and_checked() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first.startswith("$argon2id$") and first != second  # salted
    assert verify_password(first, "correct horse battery")
    assert not verify_password(first, "correct horse battery!")
    assert not verify_password(None, "correct horse battery")  # no such account
    assert not verify_password("!spent", "correct horse battery")  # a spent one-time login
    with pytest.raises(ValueError, match=str(MIN_PASSWORD)):
        hash_password("short")


async def test_a_session_lives_in_the_store_ends_when_idle_and_at_logout(store_url: str) -> None:
    clock = Clock()
    store = await open_store(store_url)
    try:
        book = SessionBook(lambda: store, 60.0, clock)
        token, session = await book.open("duty-1", "operator", "en")
        assert session.key == token_digest(token) and token not in repr(session) and session.csrf not in repr(session)
        assert await book.find(token) == session
        assert (
            await book.find("forged") is None and await book.find(None) is None and await book.find("x" * 200) is None
        )
        other = SessionBook(lambda: store, 60.0, clock)  # another instance on the same store
        clock.now += 59
        assert await other.find(token) == session  # and refreshed
        clock.now += 59
        await other.set_lang(session, "zh")
        assert (await book.find(token)).lang == "zh"  # type: ignore[union-attr]
        clock.now += 61
        assert await book.find(token) is None  # idle too long: gone for every instance
        assert await other.find(token) is None
        token, _ = await book.open("duty-1", "operator")
        await book.close(token)
        assert await other.find(token) is None
        first, _ = await book.open("duty-2", "viewer")
        second, _ = await other.open("duty-2", "viewer")
        assert await book.end_all("duty-2") == 2
        assert await book.find(first) is None and await book.find(second) is None
        assert session.csrf_ok(session.csrf) and not session.csrf_ok("x") and not session.csrf_ok(None)
    finally:
        await store.close()


async def test_the_session_table_is_bounded(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        for i in range(6):
            await store.put_session(ConsoleSession(f"k{i}", "n", "viewer", "c", "zh", 100.0 + i), 0.0, 4)
        kept = [await store.touch_session(f"k{i}", 0.0, 200.0) for i in range(6)]
        assert [s is not None for s in kept] == [False, False, True, True, True, True]  # the least recently seen
        await store.put_session(ConsoleSession("k9", "n", "viewer", "c", "zh", 300.0), 250.0, 4)
        assert await store.touch_session("k5", 0.0, 301.0) is None  # idle ones go at the next login
    finally:
        await store.close()


def test_the_throttle_counts_failures_per_key_within_its_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 300.0, clock)
    for _ in range(3):
        assert throttle.retry_after("addr:a", "name:x") == 0
        throttle.failed("addr:a", "name:x")
        clock.now += 10
    assert throttle.retry_after("addr:b", "name:x") == pytest.approx(1000 + 300 - 1030)  # the name is locked
    assert throttle.retry_after("addr:b", "name:y") == 0
    clock.now += 300
    assert throttle.retry_after("addr:a", "name:x") == 0  # the window has passed
    throttle.failed("addr:a")
    throttle.succeeded("addr:a")
    assert throttle.retry_after("addr:a") == 0


def test_secrets_are_redacted_and_locations_shown() -> None:
    rows = dict(
        redacted_settings(
            {
                "store": {"url": "postgresql://gw:hunter2secret@db/gateway"},
                "admin": {"token_file": "var/admin-token", "token": "abc"},
                "message_log": {"key_file": "var/k.hex", "key_id": "dev-1", "key": "00ff"},
                "platforms": {"hefei": {"client_secret": "s3", "base_url": "http://x", "password": "p"}},
                "keys": {"a": "b"},
            }
        )
    )
    shown = " ".join(rows.values())
    for secret in ("hunter2secret", "abc", "00ff", "s3"):
        assert secret not in shown
    assert rows["store.url"] == f"postgresql://gw:{REDACTED}@db/gateway"
    assert rows["admin.token_file"] == "var/admin-token" and rows["message_log.key_id"] == "dev-1"
    assert rows["platforms.hefei.password"] == REDACTED and rows["keys"] == REDACTED


def test_console_settings_are_checked() -> None:
    import tomllib

    from gateway.config import DEFAULT_CONFIG

    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert parse_config(data, "t").console == ConsoleSettings()  # off by default
    assert parse_config({**data, "console": {"port": 8090}}, "t").console.port == 8090
    for bad, key in (
        ({"port": "x"}, "console.port"),
        ({"login_attempts": 0}, "console.login_attempts"),
        ({"colour": 1}, "console.colour"),
        ({"session_minutes": 0}, "console.session_minutes"),
    ):
        with pytest.raises(ConfigError, match=key):
            parse_config({**data, "console": bad}, "t")
