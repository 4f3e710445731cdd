"""The console over HTTP (aiohttp's client against the console's own listener): login, sessions and cookies, roles,
CSRF, the Content-Security-Policy, the login throttle, masking and the audit trail in the message log."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from console_support import ConsoleStack, csrf_of, login, session
from pipeline_stack import sample, wait_for_async

from gateway.console import one_time_admin
from gateway.console.i18n import MESSAGES
from gateway.console.security import CSP
from gateway.errors import Refusal
from gateway.model.records import LicenceQuery
from gateway.model.timefmt import BEIJING
from gateway.server.keys import METRICS, MSGLOG
from gateway.store.api import DEAD
from gateway.sync.status import SyncStatus, status_job


async def dead_letter(cs: ConsoleStack, samples_dir: Path, version: int = 1) -> Any:
    stack = cs.stack
    stack.sims["g60"].plan.down_until = time.time() + 3600
    case = replace(sample(stack.config, samples_dir, "anhui", "case", "SC001.json"), version=version)
    await stack.partner_client("hefei").submit("case", case, f"m-{version}")
    found: list[Any] = []

    async def dead() -> bool:
        found[:] = await stack.store.list_messages(state=DEAD, destination="g60")
        return len(found) >= 1

    await wait_for_async(dead, timeout=30, what="a dead letter")
    return case, found[0]


async def test_login_sets_a_strict_http_only_cookie_and_the_pages_carry_the_csp(console_stack: ConsoleStack) -> None:
    async with session() as http:
        async with http.get(console_stack.url, allow_redirects=False) as anonymous:
            assert anonymous.status == 303 and anonymous.headers["Location"] == "/console/login"
            assert anonymous.headers["Content-Security-Policy"] == CSP
        response = await login(http, console_stack, "viewer")
        assert response.status == 303
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
        assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
        async with http.get(console_stack.url) as page:
            assert page.status == 200
            assert page.headers["Content-Security-Policy"] == CSP
            assert page.headers["X-Frame-Options"] == "DENY"
            html = await page.text()
        assert "<script" not in html and "style=" not in html  # nothing the CSP would have to allow
        assert "总览" in html  # Simplified Chinese by default
        for pid in console_stack.stack.config.registry.platforms:
            assert f'data-platform="{pid}"' in html


async def test_a_wrong_password_is_refused_and_the_login_throttled(console_stack: ConsoleStack) -> None:
    async with session() as http:
        for _ in range(5):
            response = await login(http, console_stack, "viewer", "wrong-password-xx")
            assert response.status == 401
            assert "LOGIN_FAILED" in await response.text()
        response = await login(http, console_stack, "viewer")  # the right password, but too late
        assert response.status == 429 and int(response.headers["Retry-After"]) > 0
        assert "LOGIN_THROTTLED" in await response.text()
    metrics = console_stack.stack.app[METRICS].exposition().decode()
    assert 'tongban_console_refusals_total{code="LOGIN_FAILED"} 5.0' in metrics
    assert 'tongban_console_refusals_total{code="LOGIN_THROTTLED"} 1.0' in metrics


async def test_a_form_without_the_csrf_token_is_refused(console_stack: ConsoleStack, samples_dir: Path) -> None:
    _, message = await dead_letter(console_stack, samples_dir)
    async with session() as http:
        await login(http, console_stack, "operator")
        for form in ({}, {"csrf": "forged"}):
            async with http.post(console_stack.url + f"outbox/{message.id}/retry", data=form) as refused:
                assert refused.status == 403
                assert "CSRF_INVALID" in await refused.text()
        async with http.post(console_stack.url + "login", data={"name": "operator", "password": "x" * 20}) as r:
            assert r.status == 403  # the login form too
    assert (await console_stack.stack.store.get_message(message.id)).state == DEAD


async def test_a_viewer_sees_no_retry_and_its_post_is_refused(console_stack: ConsoleStack, samples_dir: Path) -> None:
    _, message = await dead_letter(console_stack, samples_dir)
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + f"outbox/{message.id}") as page:
            html = await page.text()
        assert 'id="retry"' not in html and 'id="discard"' not in html
        form = {"csrf": csrf_of(html)}
        async with http.post(console_stack.url + f"outbox/{message.id}/retry", data=form) as refused:
            assert refused.status == 403 and "FORBIDDEN" in await refused.text()
            assert refused.headers["Content-Security-Policy"] == CSP  # refusal pages carry it too
        async with http.get(console_stack.url + f"outbox/{message.id}/retry") as confirm:
            assert confirm.status == 403
        async with http.post(
            console_stack.url + f"outbox/{message.id}/retry", data=form, headers={"Accept": "application/problem+json"}
        ) as problem:
            assert problem.status == 403 and problem.content_type == "application/problem+json"
            assert (await problem.json())["code"] == "FORBIDDEN"
    assert (await console_stack.stack.store.get_message(message.id)).state == DEAD


async def test_an_operator_retries_with_masking_and_the_action_is_in_the_message_log(
    console_stack: ConsoleStack, samples_dir: Path
) -> None:
    case, message = await dead_letter(console_stack, samples_dir)
    async with session() as http:
        await login(http, console_stack, "operator")
        async with http.get(console_stack.url + f"outbox/{message.id}") as page:
            html = await page.text()
        assert 'id="retry"' in html
        for value in (case.applicant.name, case.applicant.id_number, case.applicant.phone):
            assert value and value not in html, "a personal value is shown unmasked"
        console_stack.stack.sims["g60"].plan.down_until = 0.0
        async with http.post(console_stack.url + f"outbox/{message.id}/retry", data={"csrf": csrf_of(html)}) as done:
            assert done.status == 200 and done.url.path.endswith(f"/console/outbox/{message.id}")
            assert "已重新排队" in await done.text()  # "queued again", once

        async def delivered() -> bool:
            return (await console_stack.stack.store.get_message(message.id)).state == "delivered"

        await wait_for_async(delivered, timeout=30, what="the retried message delivered")
    log = console_stack.stack.app[MSGLOG]
    entries = await log.search(case_no=case.case_no)
    assert [e.operation for e in entries if e.platform == "console"] == ["console.retry"]
    assert (await log.verify()).ok


async def test_the_english_switch_and_every_word_in_both_languages(console_stack: ConsoleStack) -> None:
    assert MESSAGES["zh"].keys() == MESSAGES["en"].keys()
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "sync") as page:
            token = csrf_of(await page.text())
        async with http.post(console_stack.url + "lang", data={"csrf": token, "lang": "en", "back": "/console/sync"}):
            pass
        async with http.get(console_stack.url) as page:
            assert "Overview" in await page.text()


async def test_the_configuration_page_redacts_secrets(console_stack: ConsoleStack) -> None:
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "config") as page:
            html = await page.text()
    token = (console_stack.stack.config.dev_credentials / "admin-token").read_text().strip()  # type: ignore[operator]
    assert token not in html
    assert "admin.token_file" in html and "store.url" in html


@pytest.mark.parametrize(
    "path", ["outbox?state=lost", "outbox?destination=nowhere", "outbox/nope", "log?case_no=" + "x" * 65]
)
async def test_bad_queries_get_a_refusal_page_not_a_500(console_stack: ConsoleStack, path: str) -> None:
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + path) as page:
            assert page.status in (400, 404)
            assert re.search(r'id="code">(BAD_QUERY|NOT_FOUND)<', await page.text())


async def test_the_one_time_login_works_once_and_logout_ends_the_session(console_stack: ConsoleStack) -> None:
    name, password = await one_time_admin(console_stack.stack.store, time.time())
    async with session() as http:
        assert (await login(http, console_stack, name, password)).status == 303
        async with http.get(console_stack.url) as page:
            html = await page.text()
            assert page.status == 200 and f'<span id="who">{name}</span> (admin)' in html
        async with http.post(console_stack.url + "logout", data={"csrf": csrf_of(html)}, allow_redirects=False) as out:
            assert out.status == 303
        async with http.get(console_stack.url, allow_redirects=False) as after:
            assert after.status == 303 and after.headers["Location"] == "/console/login"
        again = await login(http, console_stack, name, password)
        assert again.status == 401 and "LOGIN_FAILED" in await again.text()


async def test_the_sync_page_says_when_the_catalogue_last_synced(console_stack: ConsoleStack) -> None:
    ended = datetime(2026, 12, 1, 9, 30, tzinfo=BEIJING).timestamp()
    status = SyncStatus("hefei", "yrd-map", ended, "refused", ended - 86400, {"created": 1990, "refused": 10})
    await console_stack.stack.store.put_checkpoint(status_job("hefei", "yrd-map"), status.dumps())
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "sync") as page:
            html = await page.text()
    row = html[html.index('data-link="hefei>yrd-map"') :]
    assert "2026-12-01 09:30:00" in row and "2026-11-30 09:30:00" in row
    assert '<td class="red">refused</td>' in row and "refused 10" in row and "created 1990" in row


async def test_a_message_shows_its_attempts_and_the_masked_signed_payload_of_the_last_one(
    console_stack: ConsoleStack, samples_dir: Path
) -> None:
    case, message = await dead_letter(console_stack, samples_dir)
    store = console_stack.stack.store
    [failed] = await store.list_attempts(message.id)
    assert (failed.attempt, failed.outcome) == (1, "dead") and failed.code and failed.latency >= 0
    console_stack.stack.sims["g60"].plan.down_until = 0.0
    async with session() as http:
        await login(http, console_stack, "operator")
        async with http.get(console_stack.url + f"outbox/{message.id}") as page:
            html = await page.text()
        assert html.count('data-outcome="dead"') == 1 and failed.code in html
        assert 'id="show-payload"' in html and 'id="signed"' not in html  # only on request
        async with http.post(console_stack.url + f"outbox/{message.id}/retry", data={"csrf": csrf_of(html)}):
            pass

        async def delivered() -> bool:
            return (await store.get_message(message.id)).state == "delivered"

        await wait_for_async(delivered, timeout=30, what="the retried message delivered")
        async with http.get(console_stack.url + f"outbox/{message.id}?payload=1") as page:
            html = await page.text()
    assert [a.outcome for a in await store.list_attempts(message.id)] == ["dead", "delivered"]
    assert 'data-outcome="dead"' in html and 'data-outcome="delivered"' in html
    signed = html[html.index('<pre id="signed">') :]
    signed = signed[: signed.index("</pre>")]
    assert case.case_no in signed  # the request as it went out (g60's XML carries the case number)
    for value in (case.applicant.name, case.applicant.id_number, case.applicant.phone):
        assert value and value not in signed, "a personal value is shown unmasked"


async def test_the_outbox_filters_and_a_bulk_retry_with_its_confirmation(
    console_stack: ConsoleStack, samples_dir: Path
) -> None:
    first_case, first = await dead_letter(console_stack, samples_dir, 1)
    second_case, _ = await dead_letter(console_stack, samples_dir, 2)
    found: list[Any] = []

    async def two_dead() -> bool:
        found[:] = await console_stack.stack.store.list_messages(state=DEAD, destination="g60")
        return len(found) == 2

    await wait_for_async(two_dead, timeout=30, what="two dead letters")
    [second] = [m for m in found if m.id != first.id]
    code = first.last_error_code
    created = datetime.fromtimestamp(first.created_at, BEIJING)
    window = {
        "from": (created - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "to": (created + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
    }
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "outbox?state=dead") as page:
            assert 'type="checkbox"' not in await page.text() and page.status == 200
        await login(http, console_stack, "operator")
        shown: dict[str, list[str]] = {}
        for name, params in {
            "matching": {"state": "dead", "destination": "g60", "source": "hefei", "code": code, **window},
            "other source": {"source": "huainan"},
            "other code": {"code": "SCHEMA_INVALID"},
            "later": {"from": (created + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")},
        }.items():
            async with http.get(console_stack.url + "outbox", params=params) as page:
                assert page.status == 200, name
                shown[name] = re.findall(r'<tr data-id="([0-9a-f]{32})"', await page.text())
        assert sorted(shown["matching"]) == sorted([first.id, second.id])
        assert shown["other source"] == shown["other code"] == shown["later"] == []
        for bad in ({"code": "x;drop"}, {"from": "yesterday"}, {"from": window["to"], "to": window["from"]}):
            async with http.get(console_stack.url + "outbox", params=bad) as page:
                assert page.status == 400 and 'id="code">BAD_QUERY<' in await page.text()

        picked = [("action", "retry"), ("id", first.id), ("id", second.id)]
        async with http.get(console_stack.url + "outbox/bulk", params=picked) as page:
            html = await page.text()
        assert page.status == 200 and html.count('<tr data-id="') == 2
        async with http.post(console_stack.url + "outbox/bulk", data=picked) as refused:
            assert refused.status == 403 and "CSRF_INVALID" in await refused.text()
        console_stack.stack.sims["g60"].plan.down_until = 0.0
        form = [("csrf", csrf_of(html)), *picked]
        async with http.post(console_stack.url + "outbox/bulk", data=form, allow_redirects=False) as done:
            assert done.status == 303 and done.headers["Location"].endswith("done=retried&n=2")
    store = console_stack.stack.store

    async def both_delivered() -> bool:
        return [(await store.get_message(m.id)).state for m in (first, second)] == ["delivered", "delivered"]

    await wait_for_async(both_delivered, timeout=30, what="both retried messages delivered")
    assert first_case.case_no == second_case.case_no  # two versions of one case: one audited action each
    log = console_stack.stack.app[MSGLOG]
    actions = [e for e in await log.search(case_no=first_case.case_no) if e.operation == "console.retry"]
    assert len(actions) == 2


async def _verified(http: aiohttp.ClientSession, cs: ConsoleStack, token: str) -> str:
    """Start "verify chain" and follow its self-reloading page until the report is there; the final page."""
    async with http.post(cs.url + "log/verify", data={"csrf": token}, allow_redirects=False) as started:
        assert started.status == 303
        job_page = started.headers["Location"]
    assert re.fullmatch(r"/console/log/verify/[0-9a-f]{16}", job_page)
    html: list[str] = []

    async def finished() -> bool:
        async with http.get(cs.origin + job_page) as page:
            html[:] = [await page.text()]
        running = 'http-equiv="refresh"' in html[0]
        assert running == ('id="report"' not in html[0])  # reloads itself until the report is shown
        return not running

    await wait_for_async(finished, timeout=30, what="the verification finished")
    return html[0]


async def test_the_message_log_search_shows_evidence_and_verify_finds_the_first_broken_entry(
    console_stack: ConsoleStack, samples_dir: Path, tmp_path: Path
) -> None:
    case, message = await dead_letter(console_stack, samples_dir)
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "log", params={"message_id": message.message_id}) as page:
            html = await page.text()  # the message id alone: its case number comes from the outbox
        rows = re.findall(r'<tr data-operation="([^"]+)" data-seq="(\d+)">', html)
        assert rows and {op for op, _ in rows} == {"case:POST"}  # the attempt as it went out, nothing else
        assert "<summary>XMLDSig / in the body</summary>" in html  # g60's signature travels inside its XML
        assert "签名证据" in html and "网关签名发出" in html
        async with http.get(console_stack.url + "log", params={"case_no": case.case_no, "platform": "hefei"}) as page:
            html = await page.text()
        assert "接收时已验签" in html and 'data-operation="case"' in html  # hefei's submission, verified on receipt
        scheme = re.search(r'data-field="scheme">([^<]+)<.*?data-field="key_id">([^<]+)<', html, re.DOTALL)
        assert scheme is not None and scheme.group(1).startswith("JWS ") and scheme.group(2) != "-"  # anhui.md
        for bad in ({"case_no": "x" * 65}, {"platform": "nowhere"}, {"case_no": "a<b"}):
            async with http.get(console_stack.url + "log", params=bad) as page:
                assert page.status == 400
        async with http.get(console_stack.url + "log", params={"message_id": "no-such-id"}) as page:
            assert 'id="note"' in await page.text()

        report = await _verified(http, console_stack, csrf_of(html))
        assert 'class="ok"' in report and 'id="problem"' not in report
        broken_seq = int(rows[0][1])
        db = sqlite3.connect(tmp_path / "msglog.db")
        with db:
            db.execute("UPDATE msglog_entries SET platform = 'ningbo' WHERE seq = ?", (broken_seq,))
        db.close()
        report = await _verified(http, console_stack, csrf_of(html))
    assert 'class="red"' in report and f'<span id="problem-seq">{broken_seq}</span>' in report
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "log/verify/0123456789abcdef") as page:
            assert page.status == 404


async def test_an_operator_runs_the_catalogue_sync_and_watches_it_finish(console_stack: ConsoleStack) -> None:
    cs = console_stack
    async with session() as http:
        await login(http, cs, "viewer")
        async with http.get(cs.url + "sync") as page:
            html = await page.text()
        assert 'action="/console/sync/run"' not in html
        form = {"csrf": csrf_of(html), "source": "hefei", "target": "yrd-map"}
        async with http.post(cs.url + "sync/run", data=form) as refused:
            assert refused.status == 403

        await login(http, cs, "operator")
        async with http.get(cs.url + "sync") as page:
            html = await page.text()
        assert 'id="run-hefei-yrd-map"' in html
        form = {"csrf": csrf_of(html), "source": "hefei", "target": "yrd-map"}
        async with http.post(cs.url + "sync/run", data={**form, "target": "ningbo"}) as bad:
            assert bad.status == 400  # not a configured link
        async with http.post(cs.url + "sync/run", data=form, allow_redirects=False) as started:
            assert started.status == 303
            run_page = started.headers["Location"]
        pages: list[str] = []

        async def finished() -> bool:
            async with http.get(cs.origin + run_page) as page:
                pages.append(await page.text())
            return 'id="report"' in pages[-1]

        await wait_for_async(finished, timeout=120, what="the sync run's report")
        report = pages[-1]
        assert 'http-equiv="refresh"' not in report and 'data-completed="yes"' in report
        counts = dict(re.findall(r'<span data-count="(\w+)">\w+ (\d+)</span>', report))
        assert sum(int(v) for v in counts.values()) == 2000  # the simulated catalogue, every item handled once
        async with http.get(cs.url + "sync") as page:
            html = await page.text()
    row = html[html.index('data-link="hefei>yrd-map"') :]
    assert "从未" not in row.split("</tr>")[0]  # the link's status, written by the run, is on the page
    assert re.search(r'<tr data-run="[0-9a-f]{16}">', html)


async def test_the_licence_exchanges_show_requester_consent_and_outcome_never_the_licence(
    console_stack: ConsoleStack,
) -> None:
    from test_licences import consent, hefei_library  # the pipeline tests' licence library and consent tokens

    stack = console_stack.stack
    library = hefei_library(stack)
    identifier = library.identifiers()[0]
    licence, _ = library.get(identifier)
    good = consent(stack, licence)
    await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", good), "q-1")
    with pytest.raises(Refusal):  # a consent for another requester: refused before anything is sent
        await stack.partner_client("ningbo").query_licence(
            LicenceQuery(identifier, "核验", consent(stack, licence, aud="songjiang")), "q-2"
        )
    async with session() as http:
        await login(http, console_stack, "viewer")
        async with http.get(console_stack.url + "licences", params={"licence_id": identifier}) as page:
            html = await page.text()
        async with http.get(console_stack.url + "licences", params={"licence_id": "x'<"}) as bad:
            assert bad.status == 400
    rows = re.findall(r'<tr data-requester="(\w+)" data-outcome="(\w+)">', html)
    assert rows == [("ningbo", "not_forwarded"), ("ningbo", "answered")]  # newest first
    assert pyjwt.decode(good, options={"verify_signature": False})["jti"] in html
    for personal in (licence.holder_code, licence.holder_name):
        assert personal and personal not in html, "the holder is shown"
