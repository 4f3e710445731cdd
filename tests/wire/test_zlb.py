"""The zlb wire scheme (zlb.md §1-§5) against a real simulator on loopback, in both roles.

The simulator is ``build_simulator`` with the platform's side of a generated link; the gateway's side calls it with
``Client`` over a real ``AiohttpTransport``. Raw requests (built with the pure functions of ``adapters.zlb.scheme``)
probe the endpoint's refusals. Time is an injected clock; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import Envelope
from adapters.wire import HttpRequest, HttpResponse
from adapters.zlb.codec import ZlbAdapter, parse_response, request_time
from adapters.zlb.roles import Client, Endpoint, Link, generate_link, load_link
from adapters.zlb.scheme import (
    CERT_SN_HEADER,
    OPERATION_PATHS,
    SIGN_HEADER,
    TOKEN_BY_KEY_PATH,
    TOKEN_BY_SEC_PATH,
    auth_query,
    check_window,
    irs_sign,
    read_auth_query,
    replay_nonce,
    sm2_headers,
    verify_licence_sign,
    verify_sm2_headers,
)
from adapters.zlb.simulator import install_simulator_extras
from gateway.consent import issue_consent
from gateway.delivery.outcomes import ConnectionFailed, ServerError, Throttled
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import licence_signing_string
from gateway.model.records import LicenceQuery, to_ref
from gateway.model.timefmt import BEIJING
from gateway.registry import Platform, Registry
from gateway.server.endpoints import endpoint_routes
from gateway.simulate.app import SimulatedPlatform, SimulatorSpec, build_simulator
from gateway.simulate.faults import FaultPlan
from gateway.simulate.licences import LicenceLibrary
from gateway.transport import AiohttpTransport
from gateway.wire.base import InboundCall, InboundResult, WireContext
from signing.devpki import generate_p256, generate_sm2
from signing.errors import SignatureInvalid, UnknownKey
from signing.keys import SigningKey, sm2_private_from_hex, sm2_public_from_hex, sm2_public_to_hex
from signing.replay import InMemoryReplayGuard
from signing.secret import Secret
from signing.sm import sm2_sign_b64, sm3_hex

CONSENT_ISS = "https://akm.ahzwfw.gov.cn"  # anhui.md §6.6: the consent issuer of these tests

NOW = 1_750_000_000.0  # 2025-06-15T23:06:40+08:00
DOC_APP_KEY = "zlb-test-appkey-0001"
DOC_SN = "5a4b3c2d1e0f0001"
DOC_D = "5d3e176e6adfeb36ff3453cafbcddb9f74af4865087dd70bf9714584308c0f2f"
DOC_PUB = (
    "04d64f5966b47123cbb760a51a1955bae5b6234982582cac5291ea05487b317ef866c608ac5aeb44c34507d26e108c41678d6dba88"
    "f07d640fb99cb50cae5bbb35"
)
DOC_SIG = "MEQCIDsDMZSkqbdb4pp1ZFYH/RbSWSgZt+NLwBmn9WrnFYnCAiBj70M+bvMzght57jWX2pJmm6+AG7Pmc9dkZ3pm80LsNQ=="
HEFEI_LICENCE_PUB = (
    "0436d2649b0e40d13df5c87947e5b8aae807d307c24ae9bf965c53c8b0320226a0f8ce9e76c0d5ebac8fb0d8c23a381d5fee4298da"
    "23cedc15df00a6902c0abb13"
)
HEFEI_LICENCE_SIG = "MEQCIEz2VE7PDkKYrImrMuZgJ0eeoREBlcoY57fjwlkQeaV+AiA4i9tuzBqFM55OXTRqwV/pCpP0TKnIGpsT14iND1rA9g=="


class Clock:
    """A mutable clock (Unix seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recording:
    """The real transport, remembering what was sent (same interface)."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        self.sent.append(request)
        return await self.inner.send(request, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()

    def paths(self) -> list[str]:
        return [r.path for r in self.sent]


@dataclass
class Harness:
    clock: Clock
    sim: SimulatedPlatform
    plan: FaultPlan
    url: str
    gw: Link
    pf: Link
    adapter: ZlbAdapter
    platform: Platform
    transport: Recording
    client: Client
    library: LicenceLibrary
    consent_key: SigningKey
    folder: Path
    raw_secret: Secret | None = None

    def new_client(self, clock: Clock | None = None, link: Link | None = None, url: str = "") -> Client:
        ctx = WireContext(self.platform, link or self.gw, self.adapter, clock or self.clock, url or self.url)
        return Client(ctx, self.transport)


@pytest.fixture(scope="module")
def samples(platforms_dir: Path) -> Path:
    return platforms_dir / "samples" / "zlb"


@pytest.fixture
async def h(tmp_path: Path, registry: Registry) -> AsyncIterator[Harness]:
    platform = registry.platforms["ningbo"]
    gw_settings, pf_settings = generate_link(tmp_path, platform)
    pf = load_link(pf_settings, tmp_path)
    clock = Clock(NOW)
    plan = FaultPlan()
    consent_key = SigningKey.of("consent-test-01", generate_p256())
    library = LicenceLibrary(pf.licence_key, pf.licence_cert_sn, platform.region, size=6)
    options = {"licence_library": library, "consent_keys": {consent_key.kid: consent_key.verification_key()}}
    spec = SimulatorSpec(platform, pf_settings, tmp_path, options=options)
    app, sim, tls = build_simulator(spec, registry, clock=clock, plan=plan)
    assert tls is None
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Recording()
    url = str(server.make_url("")).rstrip("/")
    adapter = registry.adapter("zlb")
    assert isinstance(adapter, ZlbAdapter)
    gw = load_link(gw_settings, tmp_path)
    client = Client(WireContext(platform, gw, adapter, clock, url), transport)
    yield Harness(clock, sim, plan, url, gw, pf, adapter, platform, transport, client, library, consent_key, tmp_path)
    await transport.close()
    await server.close()


def _record(h: Harness, samples: Path, record_type: str, name: str) -> Any:
    return h.adapter.decode(record_type, (samples / record_type / f"{name}.json").read_bytes())


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat()))


# --- raw requests, built with the pure scheme functions -----------------------------------------------------------
async def _token(h: Harness, app_key: str | None = None, secret: Secret | None = None) -> HttpResponse:
    query = auth_query(app_key or h.gw.app_key, secret or h.gw.app_secret, round(h.clock() * 1000))
    return await h.transport.send(HttpRequest("GET", f"{h.url}{TOKEN_BY_KEY_PATH}?{urlencode(query)}"))


async def _request_secret(h: Harness) -> Secret:
    """One requestSecret per test: a second token request in the same (frozen) millisecond would be a replay."""
    if h.raw_secret is None:
        answer = await _token(h)
        assert answer.status == 200
        datas = parse_response(answer.body).datas
        assert datas is not None
        h.raw_secret = Secret(datas["requestSecret"])
    return h.raw_secret


def _case_body(h: Harness, samples: Path, sent_at: float, request_id: str = "req-raw-1") -> bytes:
    record = _record(h, samples, "case", "SC002")
    envelope = Envelope(request_id, datetime.fromtimestamp(sent_at, BEIJING), request_id, sender=h.gw.app_key)
    codes = h.adapter.tables.crosswalk.columns["ningbo"]
    return h.adapter.encode("case", record, envelope, codes)


async def _post(
    h: Harness,
    body: bytes,
    query: dict[str, str],
    headers: dict[str, str] | None = None,
    operation: str = "case",
) -> tuple[int, dict[str, Any], HttpResponse]:
    if headers is None:
        headers = sm2_headers(h.gw.sign_key, h.gw.cert_sn, body)
    url = f"{h.url}{OPERATION_PATHS[operation]}?{urlencode(query)}"
    answer = await h.transport.send(HttpRequest("POST", url, {"content-type": "application/json", **headers}, body))
    # every answer of the endpoint is signed by the platform (§3), refusals included
    verify_sm2_headers(answer.headers, answer.body, {h.pf.cert_sn: h.pf.sign_key.public_key()})
    return answer.status, json.loads(answer.body), answer


async def _post_socket(h: Harness, body: bytes, query: dict[str, str], declared: bool = True) -> tuple[int, Any]:
    """A POST written on a plain socket: the transport warns about bodies over 1 MiB, which is what this sends."""
    host, port = h.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"POST {OPERATION_PATHS['case']}?{urlencode(query)} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if declared:
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    else:
        writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        for i in range(0, len(body), 65536):
            part = body[i : i + 65536]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        writer.write(b"0\r\n\r\n")
    with contextlib.suppress(ConnectionError):  # the server may answer and close before reading everything
        await writer.drain()
    raw = await reader.read()
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def _signed_case(h: Harness, samples: Path, **changes: Any) -> tuple[bytes, dict[str, str]]:
    secret = await _request_secret(h)
    sent = changes.pop("sent_at", h.clock())
    body = _case_body(h, samples, sent, changes.pop("request_id", "req-raw-1"))
    query = auth_query(
        h.gw.app_key, secret, changes.pop("request_time", request_time(datetime.fromtimestamp(sent, BEIJING)))
    )
    return body, query


# --- the document's worked examples -------------------------------------------------------------------------------
def test_irs_signs_of_the_worked_example() -> None:
    """zlb.md §2: the refresh sign (appSecret) and the call sign (requestSecret)."""
    app_secret = Secret("test-only-app-secret-ningbo")
    request_secret = Secret("test-only-request-secret-7f3a9c")
    assert irs_sign(DOC_APP_KEY, app_secret, 1748395200000) == "b1bae66afd89b44d34fd24ab5035881b"
    query = auth_query(DOC_APP_KEY, request_secret, 1748395200000)
    assert query == {"appKey": DOC_APP_KEY, "requestTime": "1748395200000", "sign": "c28c73cb8f7afe257666d2d0ae0de450"}
    auth = read_auth_query(query)
    assert (auth.app_key, auth.request_time, auth.sign) == (DOC_APP_KEY, 1748395200000, query["sign"])
    assert "c28c73" not in repr(auth)


def test_sm2_header_of_the_worked_example(samples: Path) -> None:
    """zlb.md §3: the printed X-Sm2-Sign verifies over SS001's exact bytes; a fresh one from the printed d too."""
    body = (samples / "status" / "SS001.json").read_bytes()
    assert (len(body), sm3_hex(body)) == (471, "14d138073943cd444d6e1bc8f9cb0ab7c8d1efeb4283eb1f0bfb48e0eeed4ed2")
    public = sm2_public_from_hex(DOC_PUB)
    certs = {DOC_SN: public}
    headers = {"x-sm2-sign": DOC_SIG, "x-sm2-cert-sn": DOC_SN}
    assert verify_sm2_headers(headers, body, certs)[0] == DOC_SN
    private = sm2_private_from_hex(DOC_D)
    assert sm2_public_to_hex(private.public_key()) == DOC_PUB
    fresh = sm2_headers(private, DOC_SN, body)
    assert fresh[SIGN_HEADER] != DOC_SIG and fresh[CERT_SN_HEADER] == DOC_SN  # SM2 signatures are randomised
    verify_sm2_headers(fresh, body, certs)
    with pytest.raises(SignatureInvalid):
        verify_sm2_headers(headers, body + b" ", certs)
    with pytest.raises(UnknownKey):
        verify_sm2_headers({**headers, "x-sm2-cert-sn": DOC_SN.upper()}, body, certs)


def test_licence_signature_of_the_worked_example_verifies_from_the_zlb_datas(h: Harness, samples: Path) -> None:
    """anhui.md §9's signature verifies over the licence read from zlb's SL001 (same record, same signing string)."""
    licence = _record(h, samples, "licence", "SL001")
    assert len(licence_signing_string(licence)) == 792
    issuers = {"a1b2": sm2_public_from_hex(HEFEI_LICENCE_PUB)}
    sign = {"alg": "SM2-SM3", "userId": "1234567812345678", "signCertSN": "a1b2", "value": HEFEI_LICENCE_SIG}
    assert verify_licence_sign(licence, sign, issuers).value == HEFEI_LICENCE_SIG
    refused = [
        ({**sign, "alg": "ES256"}, licence),
        ({**sign, "userId": "1"}, licence),
        ({**sign, "value": 5}, licence),
        ({**sign, "signCertSN": "ffff"}, licence),
        (sign, replace(licence, number="00202416191580")),
    ]
    for bad, signed in refused:
        with pytest.raises(Refusal) as info:
            verify_licence_sign(signed, bad, issuers)
        assert (info.value.code, info.value.where) == (C.SIGNATURE_INVALID, "datas.digitalSign")


def test_window_is_300000_ms_exactly_and_the_nonce_names_one_signed_request() -> None:
    check_window(1748395200000 - 300_000, 1748395200000)
    check_window(1748395200000 + 300_000, 1748395200000)
    for off in (300_001, -300_001):
        with pytest.raises(Refusal) as err:
            check_window(1748395200000 + off, 1748395200000)
        assert err.value.code == "REPLAYED"
    auth = read_auth_query(auth_query(DOC_APP_KEY, Secret("s"), 1748395200000))
    assert replay_nonce(auth) == f"1748395200000:{auth.sign}"
    assert replay_nonce(auth, b"\x30\x01") != replay_nonce(auth, b"\x30\x02")
    assert len(replay_nonce(auth, b"\x30" * 72)) <= 256


# --- submissions --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("record_type", "name"), [("case", "SC002"), ("status", "SS001"), ("evaluation", "SE005")])
async def test_submission_is_accepted_read_back_and_repeated(
    h: Harness, samples: Path, record_type: str, name: str
) -> None:
    record = _record(h, samples, record_type, name)
    first = await h.client.submit(record_type, record, f"msg-{name}")
    assert first.receipt_no.startswith("NINGBO")
    [entry] = h.sim.book.snapshot(record_type)
    assert _normal(entry["record"]) == _normal(to_ref(record))
    assert (entry["caller"], entry["message_id"]) == (h.gw.app_key, f"msg-{name}")
    h.clock.now += 1
    again = await h.client.submit(record_type, record, f"msg-{name}")
    assert again.receipt_no == first.receipt_no
    assert len(h.sim.book.snapshot(record_type)) == 1 and h.sim.book.calls == 2
    posts = [r for r in h.transport.sent if r.method == "POST"]
    assert posts[0].query["requestTime"] != posts[1].query["requestTime"]
    assert h.transport.paths().count(TOKEN_BY_KEY_PATH) == 1


async def test_concurrent_calls_fetch_one_request_secret(h: Harness, samples: Path) -> None:
    record = _record(h, samples, "status", "SS001")
    events = [replace(record, case_no=f"{record.case_no[:-1]}{n}") for n in range(8)]
    receipts = await asyncio.gather(*(h.client.submit("status", e, f"s-{e.case_no}") for e in events))
    assert len({r.receipt_no for r in receipts}) == 8
    assert h.transport.paths().count(TOKEN_BY_KEY_PATH) == 1


async def test_request_secret_is_renewed_before_it_ends_by_the_current_secret(h: Harness, samples: Path) -> None:
    record = _record(h, samples, "status", "SS001")
    await h.client.submit("status", record, "s-1")
    h.clock.now += 14 * 60 + 1  # inside the last minute of the 15
    await h.client.submit("status", replace(record, seq=record.seq + 1), "s-2")
    assert h.transport.paths()[:2] == [TOKEN_BY_KEY_PATH, OPERATION_PATHS["status"]]
    assert h.transport.paths()[2:] == [TOKEN_BY_SEC_PATH, OPERATION_PATHS["status"]]


async def test_expired_request_secret_is_code_15_and_the_client_refreshes_once(h: Harness, samples: Path) -> None:
    record = _record(h, samples, "status", "SS001")
    await h.client.submit("status", record, "s-1")
    # the platform's clock runs 2 minutes ahead: it sees the secret expired while the client thinks it has a minute
    client_clock = Clock(h.clock.now + 13 * 60)
    h.clock.now += 15 * 60 + 1
    client = h.new_client(client_clock)
    client._grant = h.client._grant  # the same application's cached secret
    accepted = await client.submit("status", replace(record, seq=record.seq + 1), "s-2")
    assert accepted.receipt_no
    assert h.transport.paths()[2:] == [OPERATION_PATHS["status"], TOKEN_BY_KEY_PATH, OPERATION_PATHS["status"]]


async def test_licence_query_answers_a_signed_licence(h: Harness) -> None:
    identifier = h.library.identifiers()[0]
    licence, _ = h.library.get(identifier)
    token = issue_consent(
        h.consent_key,
        sub=licence.holder_code,
        aud="gateway",
        scope=licence.type_code,
        purpose="c1",
        now=h.clock(),
        issuer=CONSENT_ISS,
    )
    answer = await h.client.query_licence(LicenceQuery(identifier, "核验", token), "lq-1")
    assert answer.licence == licence
    assert answer.signature is not None and answer.signature.cert_sn == h.pf.licence_cert_sn
    with pytest.raises(Refusal) as err:  # single use of the consent token
        await h.client.query_licence(LicenceQuery(identifier, "核验", token), "lq-2")
    assert (err.value.code, err.value.where) == ("CONSENT_INVALID", "body.consentToken")
    unknown = LicenceLibrary(generate_sm2(), "01", h.platform.region, seed=7, size=1).identifiers()[0]
    with pytest.raises(Refusal) as err:
        await h.client.query_licence(LicenceQuery(unknown, "核验", token), "lq-3")
    assert (err.value.code, err.value.where) == ("UNKNOWN_CODE", "body.certificateIdentifier")


async def test_licence_signed_by_an_issuer_not_allowed_is_refused(h: Harness, tmp_path: Path) -> None:
    other = LicenceLibrary(generate_sm2(), h.pf.licence_cert_sn, h.platform.region, size=6)
    h.sim.extras.clear()
    spec = SimulatorSpec(
        h.platform,
        {},
        tmp_path,
        options={"licence_library": other, "consent_keys": {h.consent_key.kid: h.consent_key.verification_key()}},
    )
    install_simulator_extras(h.sim, spec, WireContext(h.platform, h.pf, h.adapter, h.clock))
    identifier = other.identifiers()[0]
    licence, _ = other.get(identifier)
    token = issue_consent(
        h.consent_key,
        sub=licence.holder_code,
        aud="x",
        scope=licence.type_code,
        purpose="c",
        now=NOW,
        issuer=CONSENT_ISS,
    )
    with pytest.raises(Refusal) as err:
        await h.client.query_licence(LicenceQuery(identifier, "核验", token), "lq-1")
    assert (err.value.code, err.value.where) == ("SIGNATURE_INVALID", "datas.digitalSign")


# --- business refusals --------------------------------------------------------------------------------------------
async def test_lower_seq_is_rule_violation(h: Harness, samples: Path) -> None:
    record = _record(h, samples, "status", "SS001")
    await h.client.submit("status", replace(record, seq=5), "s-5")
    with pytest.raises(Refusal) as err:
        await h.client.submit("status", replace(record, seq=4), "s-4")
    assert err.value.code == "RULE_VIOLATION"


async def test_a_record_the_platform_refuses_names_code_and_field(h: Harness, samples: Path) -> None:
    case = _record(h, samples, "case", "SC002")
    number = case.applicant.id_number
    bad = replace(case, applicant=replace(case.applicant, id_number=number[:-1] + ("0" if number[-1] != "0" else "1")))
    with pytest.raises(Refusal) as err:
        await h.client.submit("case", bad, "c-bad")
    assert (err.value.code, err.value.where) == ("USCC_CHECKSUM", "body.applicantCertNo")
    assert h.sim.book.snapshot() == []


# --- security: each refusal in the documented form ----------------------------------------------------------------
async def test_token_refusals(h: Harness) -> None:
    wrong = await _token(h, secret=Secret("not-the-app-secret"))
    assert (wrong.status, json.loads(wrong.body)["code"]) == (401, "14")
    unknown = await _token(h, app_key="someone-else")
    assert (unknown.status, json.loads(unknown.body)["code"]) == (401, "14")
    head = await h.transport.send(replace(h.transport.sent[0], method="HEAD"))
    assert head.status == 405  # a token answer without its body would lose the secret it issues
    bare = await h.transport.send(HttpRequest("GET", f"{h.url}{TOKEN_BY_KEY_PATH}"))
    assert (bare.status, json.loads(bare.body)["code"]) == (401, "14")
    ok = await _token(h)
    replayed = await h.transport.send(h.transport.sent[-1])
    assert ok.status == 200 and (replayed.status, json.loads(replayed.body)["datas"]) == (
        401,
        {"errorCode": "REPLAYED", "field": "requestTime"},
    )


async def test_valid_raw_call_then_its_replay(h: Harness, samples: Path) -> None:
    body, query = await _signed_case(h, samples)
    headers = sm2_headers(h.gw.sign_key, h.gw.cert_sn, body)
    status, tree, _ = await _post(h, body, query, headers)
    assert (status, tree["code"], tree["requestId"]) == (200, "00", "req-raw-1")
    status, tree, _ = await _post(h, body, query, headers)
    assert (status, tree["code"], tree["datas"]["errorCode"]) == (401, "10", "REPLAYED")
    # the same message signed afresh (a retry) is a new nonce: accepted, the first receipt
    status, again, _ = await _post(h, body, query)
    assert (status, again["code"]) == (200, "00") and len(h.sim.book.snapshot()) == 1


async def test_auth_failures_are_code_14_or_15(h: Harness, samples: Path) -> None:
    body, query = await _signed_case(h, samples)
    wrong = [
        {},
        {**query, "sign": "0" * 32},
        {**query, "appKey": "other-app"},
        {**query, "sign": query["sign"].upper()},
    ]
    for q in wrong:
        status, tree, _ = await _post(h, body, q)
        assert (status, tree["code"], tree.get("datas")) == (401, "14", None), q.keys()
    other = Secret("a-secret-the-platform-never-issued")
    status, tree, _ = await _post(h, body, auth_query(h.gw.app_key, other, int(query["requestTime"])))
    assert (status, tree["code"]) == (401, "14")
    h.clock.now += 15 * 60  # the secret ends exactly now
    status, tree, _ = await _post(h, body, query)
    assert (status, tree["code"], tree["msg"]) == (401, "15", "请求密钥已过期")


async def test_sm2_failures_are_code_16(h: Harness, samples: Path) -> None:
    body, query = await _signed_case(h, samples)
    good = sm2_headers(h.gw.sign_key, h.gw.cert_sn, body)
    stranger = generate_sm2()
    cases = {
        "missing": {},
        "no cert sn": {SIGN_HEADER: good[SIGN_HEADER]},
        "unknown cert sn": {**good, CERT_SN_HEADER: "abcdef0123456789"},
        "other bytes": {**good, SIGN_HEADER: sm2_sign_b64(h.gw.sign_key, body + b"\n")},
        "wrong key": {**good, SIGN_HEADER: sm2_sign_b64(stranger, body)},
        "the platform's own key": {SIGN_HEADER: sm2_sign_b64(h.pf.sign_key, body), CERT_SN_HEADER: h.pf.cert_sn},
        "not base64": {**good, SIGN_HEADER: "!!!"},
        "not DER": {**good, SIGN_HEADER: "AAAA"},
    }
    for name, headers in cases.items():
        status, tree, _ = await _post(h, body, query, headers)
        assert (status, tree["code"]) == (401, "16"), name
    tampered = body.replace(b'"promiseDays":7', b'"promiseDays":8')
    assert tampered != body
    status, tree, _ = await _post(h, tampered, query, good)
    assert (status, tree["code"]) == (401, "16")
    assert h.sim.book.snapshot() == []


async def test_request_time_window(h: Harness, samples: Path) -> None:
    now_ms = round(NOW * 1000)
    for offset, expected in ((-300_001, "REPLAYED"), (300_001, "REPLAYED")):
        body, query = await _signed_case(h, samples, sent_at=(now_ms + offset) / 1000, request_time=now_ms + offset)
        status, tree, _ = await _post(h, body, query)
        assert (status, tree["code"], tree["datas"]) == (401, "10", {"errorCode": expected, "field": "requestTime"})
    body, query = await _signed_case(h, samples, sent_at=(now_ms - 300_000) / 1000, request_time=now_ms - 300_000)
    status, tree, _ = await _post(h, body, query)
    assert (status, tree["code"]) == (200, "00")


async def test_head_request_time_must_equal_the_query(h: Harness, samples: Path) -> None:
    now_ms = round(NOW * 1000)
    body, query = await _signed_case(h, samples, request_time=now_ms + 1000)
    status, tree, _ = await _post(h, body, query)
    assert (status, tree["code"], tree["datas"]) == (
        422,
        "10",
        {"errorCode": "RULE_VIOLATION", "field": "head.requestTime"},
    )


async def test_size_then_envelope_refusals(h: Harness, samples: Path) -> None:
    _, query = await _signed_case(h, samples)
    huge = b"{" + b" " * (1024 * 1024 - 1) + b"}"
    status, tree = await _post_socket(h, huge, query)
    assert (status, tree["code"]) == (413, "17")  # before authentication and signature (README §10 step 1)
    status, tree = await _post_socket(h, huge, query, declared=False)  # chunked: counted while reading
    assert (status, tree["code"]) == (413, "17")
    status, tree, _ = await _post(h, b'{"head":', query)
    assert (status, tree["code"], tree["datas"]["errorCode"]) == (400, "10", "MALFORMED")
    body = _case_body(h, samples, h.clock())
    status, tree, _ = await _post(h, body, query, operation="status")  # a case sent to the status path
    assert (status, tree["datas"]) == (400, {"errorCode": "MALFORMED", "field": "head.bizType"})


async def test_a_handler_fault_is_code_99_never_a_page(h: Harness, samples: Path, registry: Registry) -> None:
    async def broken(call: InboundCall) -> InboundResult:
        raise RuntimeError("bug")

    endpoint = Endpoint(WireContext(h.platform, h.pf, h.adapter, h.clock), InMemoryReplayGuard(), broken)
    app = web.Application()
    app.add_routes(endpoint_routes(endpoint))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        client = h.new_client(url=str(server.make_url("")).rstrip("/"))
        with pytest.raises(ServerError) as err:
            await client.submit("status", _record(h, samples, "status", "SS001"), "s-1")
        assert err.value.reason == "HTTP 500"
        sent = h.transport.sent[-1]  # the same message signed afresh (a new nonce), read raw
        again = replace(sent, headers={**sent.headers, **sm2_headers(h.gw.sign_key, h.gw.cert_sn, sent.body)})
        answer = await h.transport.send(again)
        verify_sm2_headers(answer.headers, answer.body, {h.pf.cert_sn: h.pf.sign_key.public_key()})
        assert (answer.status, json.loads(answer.body)["code"], b"bug" in answer.body) == (500, "99", False)
    finally:
        await server.close()


# --- answers the client cannot trust ------------------------------------------------------------------------------
async def test_unsigned_or_foreign_signed_answers_are_transient(h: Harness, samples: Path, tmp_path: Path) -> None:
    async def unsigned(request: web.Request) -> web.Response:
        return web.json_response({"code": "00", "msg": "成功", "datas": {"receiptNo": "X"}, "requestId": "s-1"})

    app = web.Application()
    app.add_routes([web.get(TOKEN_BY_KEY_PATH, unsigned), web.post(OPERATION_PATHS["status"], unsigned)])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        client = h.new_client(url=str(server.make_url("")).rstrip("/"))
        with pytest.raises(ServerError) as err:
            await client.submit("status", _record(h, samples, "status", "SS001"), "s-1")
        assert err.value.reason == "unverified answer"
    finally:
        await server.close()
    # a link that registers another platform certificate: the simulator's answers do not verify
    foreign_gw, _ = generate_link(tmp_path / "foreign", h.platform)
    foreign = load_link(foreign_gw, tmp_path / "foreign")
    with pytest.raises(ServerError) as err:
        await h.new_client(link=replace(h.gw, peer_certs=foreign.peer_certs)).submit(
            "status", _record(h, samples, "status", "SS001"), "s-1"
        )
    assert err.value.reason == "unverified answer"


# --- faults -------------------------------------------------------------------------------------------------------
async def test_faults_map_to_the_delivery_tree_and_a_retry_is_signed_afresh(h: Harness, samples: Path) -> None:
    record = _record(h, samples, "case", "SC002")
    await h.client.submit("status", _record(h, samples, "status", "SS001"), "warm-up")  # fetch the secret
    h.plan.update({"error_rate": 1.0})
    with pytest.raises(ServerError) as server_error:
        await h.client.submit("case", record, "c-1")
    assert server_error.value.reason == "HTTP 503"
    h.plan.update({"error_rate": 0.0, "throttle_rate": 1.0, "retry_after": 7})
    with pytest.raises(Throttled) as throttled:
        await h.client.submit("case", record, "c-1")
    assert throttled.value.retry_after == 7.0
    h.plan.update({"throttle_rate": 0.0, "drop_rate": 1.0})
    with pytest.raises(ConnectionFailed):
        await h.client.submit("case", record, "c-1")
    h.plan.update({"drop_rate": 0.0})
    accepted = await h.client.submit("case", record, "c-1")  # same clock second as the failed attempts
    h.clock.now += 2
    again = await h.client.submit("case", record, "c-1")
    assert again.receipt_no == accepted.receipt_no
    attempts = [r for r in h.transport.sent if r.path == OPERATION_PATHS["case"]]
    assert len(attempts) == 5
    assert len({r.header(SIGN_HEADER) for r in attempts}) == 5
    assert attempts[-1].query["requestTime"] != attempts[-2].query["requestTime"]
    assert attempts[-1].query["sign"] != attempts[-2].query["sign"]


# --- the link -----------------------------------------------------------------------------------------------------
def test_generated_link_files_and_load_errors(tmp_path: Path, registry: Registry) -> None:
    gw, pf = generate_link(tmp_path, registry.platforms["ningbo"])
    folder = tmp_path / "ningbo"
    for name in ("app_secret", "gateway_sm2_key.pem", "platform_sm2_key.pem", "licence_sm2_key.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    gateway, platform = load_link(gw, tmp_path), load_link(pf, tmp_path)
    assert gateway.app_key == platform.app_key and gateway.app_secret == platform.app_secret
    assert set(gateway.peer_certs) == {platform.cert_sn} and set(platform.peer_certs) == {gateway.cert_sn}
    assert set(gateway.licence_issuers) == {platform.licence_cert_sn} and gateway.licence_key is None
    assert "Secret('**********')" in repr(gateway) and gateway.app_secret.reveal_str() not in repr(gateway)
    broken = {
        "app_key": {**gw, "app_key": ""},
        "app_secret_file": {**gw, "app_secret_file": "nowhere"},
        "sm2_key_file": {**gw, "sm2_key_file": "ningbo/app_secret"},
        "sm2_cert_sn": {**gw, "sm2_cert_sn": "5A4B"},
        "peer_certs": {**gw, "peer_certs": {}},
        f"peer_certs.{platform.cert_sn}": {**gw, "peer_certs": {platform.cert_sn: "missing.pem"}},
    }
    for key, settings in broken.items():
        with pytest.raises(ConfigError) as err:
            load_link(settings, tmp_path)
        assert err.value.key == key


# --- the other direction: the platform calls the gateway's endpoint with the same link type ---------------------------
async def test_simulator_emits_a_status_event_to_the_gateways_endpoint(
    h: Harness, samples: Path, registry: Registry, tmp_path: Path
) -> None:
    gw_settings, pf_settings = generate_link(tmp_path / "back", h.platform)
    gw_link = load_link(gw_settings, tmp_path / "back")
    gateway_side = SimulatedPlatform(h.platform)  # stands in for the gateway's inbound business logic
    endpoint = Endpoint(WireContext(h.platform, gw_link, h.adapter, h.clock), InMemoryReplayGuard(), gateway_side)
    gateway_app = web.Application()
    gateway_app.add_routes(endpoint_routes(endpoint))
    gateway = TestServer(gateway_app, host="127.0.0.1")
    await gateway.start_server()
    spec = SimulatorSpec(h.platform, pf_settings, tmp_path / "back", gateway_url=str(gateway.make_url("")).rstrip("/"))
    app, _, _ = build_simulator(spec, registry, clock=h.clock)
    simulator = TestServer(app, host="127.0.0.1")
    await simulator.start_server()
    try:
        event = _record(h, samples, "status", "SS001")
        payload = json.dumps(_normal(to_ref(event)), ensure_ascii=False).encode()
        url = str(simulator.make_url("/_sim/emit-status"))
        answer = await h.transport.send(HttpRequest("POST", url, {"content-type": "application/json"}, payload))
        assert answer.status == 200
        [entry] = gateway_side.book.snapshot("status")
        assert json.loads(answer.body) == {"receipt": entry["receipt"]}
        assert _normal(entry["record"]) == _normal(to_ref(event)) and entry["caller"] == gw_link.app_key
    finally:
        await simulator.close()
        await gateway.close()
