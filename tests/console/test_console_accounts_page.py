"""The admins' accounts page (create, change role, disable; CSRF, audit, 403 for everyone else) and sessions shared
by two gateway instances on one store (SQLite and PostgreSQL): a login on instance A works on instance B, and a
logout or a role change on one ends the session on both."""

from __future__ import annotations

from pathlib import Path

from console_support import ConsoleStack, csrf_of, login, session, start_console_stack
from pipeline_stack import StackFactory

from gateway.console import CONSOLE_URL
from gateway.console.auth import verify_password
from gateway.server.keys import MSGLOG


async def _logged_entries(cs: ConsoleStack) -> int:
    return (await cs.stack.app[MSGLOG].verify()).entries


async def test_only_an_admin_manages_accounts_and_each_change_is_audited(console_stack: ConsoleStack) -> None:
    cs, store = console_stack, console_stack.stack.store
    async with session() as http:
        for role in ("viewer", "operator"):
            await login(http, cs, role)
            async with http.get(cs.url) as page:
                assert 'id="nav-accounts"' not in await page.text()
                token = csrf_of(await page.text())
            async with http.get(cs.url + "accounts") as refused:
                assert refused.status == 403 and 'id="code">FORBIDDEN<' in await refused.text()
            form = {"csrf": token, "name": "sneaky-1", "role": "admin", "password": "a-long-password-9"}
            async with http.post(cs.url + "accounts", data=form) as refused:
                assert refused.status == 403
        assert await store.get_operator("sneaky-1") is None

        await login(http, cs, "admin")
        async with http.get(cs.url + "accounts") as page:
            html = await page.text()
        assert page.status == 200 and 'data-account="operator" data-role="operator"' in html
        before = await _logged_entries(cs)
        form = {"csrf": csrf_of(html), "name": "duty-2", "role": "operator", "password": "duty-password-22"}
        async with http.post(cs.url + "accounts", data={k: v for k, v in form.items() if k != "csrf"}) as refused:
            assert refused.status == 403 and "CSRF_INVALID" in await refused.text()
        async with http.post(cs.url + "accounts", data={**form, "password": "short"}) as refused:
            text = await refused.text()
            assert refused.status == 400 and "BAD_QUERY" in text and "short" not in text.split("</header>")[-1]
        async with http.post(cs.url + "accounts", data=form) as created:
            assert created.status == 200 and "已保存" in await created.text()
        async with http.post(cs.url + "accounts", data=form) as again:
            assert again.status == 409 and "ACCOUNT_EXISTS" in await again.text()
        account = await store.get_operator("duty-2")
        assert account is not None and account.role == "operator"
        assert verify_password(account.password_hash, "duty-password-22")

        async with session() as viewer_http:  # the viewer is signed in while the admin changes its role
            await login(viewer_http, cs, "viewer")
            async with viewer_http.get(cs.url, allow_redirects=False) as page:
                assert page.status == 200
            token = csrf_of(html)
            async with http.post(cs.url + "accounts/viewer/role", data={"csrf": token, "role": "operator"}) as done:
                assert done.status == 200
            async with viewer_http.get(cs.url, allow_redirects=False) as page:
                assert page.status == 303  # signed out at once: the new role needs a new login
            assert (await store.get_operator("viewer")).role == "operator"  # type: ignore[union-attr]
            async with http.post(cs.url + "accounts/duty-2/disable", data={"csrf": token}) as done:
                assert done.status == 200
            assert (await login(viewer_http, cs, "duty-2", "duty-password-22")).status == 401
            async with http.post(cs.url + "accounts/admin/disable", data={"csrf": token}) as refused:
                assert refused.status == 403  # not one's own account
            async with http.post(cs.url + "accounts/nobody/role", data={"csrf": token, "role": "viewer"}) as gone:
                assert gone.status == 404
            async with http.post(cs.url + "accounts/duty-2/role", data={"csrf": token, "role": "root"}) as bad:
                assert bad.status == 400
        async with http.get(cs.url + "accounts") as page:
            assert 'data-account="duty-2" data-role="operator" data-status="disabled"' in await page.text()
    # create, role change, disable: three operator actions (the failed login of duty-2 is a fourth)
    assert await _logged_entries(cs) - before == 4 + 1  # and the viewer's login


async def test_a_session_opened_on_one_instance_works_on_the_other(
    store_url: str, make_stack: StackFactory, tmp_path: Path
) -> None:
    cs = await start_console_stack(make_stack, tmp_path, store_url)
    other, _ = await cs.stack.add_gateway(run_workers=False)
    other_url = other[CONSOLE_URL].url
    assert other_url is not None and other_url != cs.url
    async with session() as http:
        assert (await login(http, cs, "operator")).status == 303  # on instance A
        async with http.get(other_url, allow_redirects=False) as page:  # the same cookie on instance B
            html = await page.text()
            assert page.status == 200 and '<span id="who">operator</span>' in html
        async with http.post(other_url + "lang", data={"csrf": csrf_of(html), "lang": "en", "back": "/console/"}):
            pass
        async with http.get(cs.url) as page:
            assert "Overview" in await page.text()  # the language chosen on B, shown by A
        async with http.post(other_url + "logout", data={"csrf": csrf_of(html)}, allow_redirects=False) as out:
            assert out.status == 303
        async with http.get(cs.url, allow_redirects=False) as page:
            assert page.status == 303  # logged out on B: gone on A as well
