"""Operator accounts: stored on both backends, spent once when single-use, created by ``gateway console add-user``,
and the one-time admin ``gateway demo`` prints."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import tomli_w

from gateway.config import DEFAULT_CONFIG
from gateway.console import add_user, one_time_admin
from gateway.console.auth import verify_password
from gateway.store import open_store

REPO = Path(__file__).resolve().parents[2]


async def test_accounts_are_stored_and_a_one_time_login_is_spent_once(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        await add_user(store, "duty-1", "viewer", "first-password-1", 10.0)
        await add_user(store, "duty-1", "operator", "second-password-2", 20.0)  # replaced
        account = await store.get_operator("duty-1")
        assert account is not None and account.role == "operator" and not account.single_use
        assert verify_password(account.password_hash, "second-password-2")
        assert "second-password" not in repr(account) and account.password_hash not in repr(account)
        assert await store.get_operator("nobody") is None
        name, password = await one_time_admin(store, 30.0)
        admin = await store.get_operator(name)
        assert admin is not None and admin.role == "admin" and admin.single_use
        assert verify_password(admin.password_hash, password)
        spent = await asyncio.gather(*(store.spend_single_use(name, admin.password_hash) for _ in range(4)))
        assert sorted(spent) == [False, False, False, True]  # racing logins: one gets in
        assert not verify_password((await store.get_operator(name)).password_hash, password)  # type: ignore[union-attr]
        assert not await store.spend_single_use("duty-1", account.password_hash)  # not single-use
    finally:
        await store.close()


def _config(tmp_path: Path) -> Path:
    import tomllib

    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    data["dev"]["credentials"] = str(tmp_path / "dev")
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _add_user(config: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.cli", "console", "add-user", "--config", str(config), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)


async def _account(tmp_path: Path, name: str) -> tuple[str, str]:
    store = await open_store(f"sqlite://{tmp_path / 'gateway.db'}")
    try:
        account = await store.get_operator(name)
        assert account is not None
        return account.role, account.password_hash
    finally:
        await store.close()


async def test_add_user_takes_the_password_from_stdin_or_generates_one(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = _add_user(config, "duty-1", "--role", "operator", stdin="a-long-password-1\n")
    assert done.returncode == 0, done.stderr
    assert "a-long-password-1" not in done.stdout + done.stderr
    role, stored = await _account(tmp_path, "duty-1")
    assert role == "operator" and verify_password(stored, "a-long-password-1")

    done = _add_user(config, "duty-2", "--role", "viewer", stdin="")
    assert done.returncode == 0, done.stderr
    shown = re.search(r"password \(shown once\): (\S+)", done.stdout)
    assert shown is not None
    assert verify_password((await _account(tmp_path, "duty-2"))[1], shown.group(1))

    refused = _add_user(config, "duty-3", "--role", "viewer", stdin="short\n")
    assert refused.returncode == 1 and "at least 12 characters" in refused.stderr
    wrong_role = _add_user(config, "duty-3", "--role", "root", stdin="a-long-password-1\n")
    assert wrong_role.returncode == 2 and "invalid choice" in wrong_role.stderr


def test_the_demo_prints_the_console_and_a_one_time_login(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from commands_support import free_base

    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "demo",
        "--once",
        "--config",
        str(DEFAULT_CONFIG),
        "--port-base",
        str(free_base(9)),
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = re.search(
        r"console   (http://127\.0\.0\.1:\d+/console/)  one-time login: (demo-[0-9a-f]{6}) / (\S+)", done.stdout
    )
    assert found is not None, done.stdout[:2000]

    async def check() -> None:
        store = await open_store(f"sqlite://{tmp_path / 'var' / 'gateway.db'}")
        try:
            account = await store.get_operator(found.group(2))
            assert account is not None and account.role == "admin" and account.single_use
            assert verify_password(account.password_hash, found.group(3))
        finally:
            await store.close()

    asyncio.run(check())
