"""The hunan wire scheme (hunan.md §1-§5) in both roles, against a real loopback simulator of Changsha.

The document's worked examples are recomputed with ``adapters.hunan.scheme``; everything else runs the real
simulator app (``build_simulator``) on 127.0.0.1 port 0 and calls it with the real ``Client`` over a real
``AiohttpTransport``, or with hand-built requests for the hostile cases. Keys are generated per module by
``generate_link``; time is two injected clocks (the client's and the simulator's).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.hunan import scheme as hw
from adapters.hunan.codec import parse_problem, parse_receipt, render_problem
from adapters.hunan.roles import Client, Endpoint, Link, generate_link, load_link
from adapters.wire import HttpRequest, HttpResponse
from gateway.delivery.outcomes import ConnectionFailed, ServerError, Throttled
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import Case, StatusEvent, to_ref
from gateway.registry import Registry
from gateway.server.endpoints import endpoint_routes
from gateway.simulate.app import SimulatedPlatform, SimulatorSpec, build_simulator
from gateway.simulate.faults import FaultPlan
from gateway.transport import AiohttpTransport, FakeTransport
from gateway.wire.base import Accepted, InboundCall, WireContext
from signing.devpki import generate_p256, public_key_pem
from signing.errors import SignatureInvalid, TokenInvalid
from signing.httpsig import HttpMessage, content_digest, signature_base
from signing.jwt import issue_jwt
from signing.keys import ALG_ES256, SigningKey, VerificationKey, load_public_key
from signing.replay import InMemoryReplayGuard
from signing.sfv import serialize_inner_list

T0 = 1748395200.0  # the document's `created`; both clocks start here

# --- hunan.md §2, §3 worked examples (TEST ONLY) ---------------------------------------------------------------------
DOC_CLIENT_PUBLIC = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/QC+WkgP+kVvgxj+BedAJ3Txiwtt
ETyjUaWy6NAKUMGjqe8OWWIX/aSnvD8FRGlqWEtWjulMquDeoINJhNlI/Q==
-----END PUBLIC KEY-----
"""
DOC_ASSERTION = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Imd3LWNsaWVudC10ZXN0LTAxIiwidHlwIjoiSldUIn0."
    "eyJpc3MiOiJ0b25nYmFuLWd3LXRlc3QiLCJzdWIiOiJ0b25nYmFuLWd3LXRlc3QiLCJhdWQiOiJodHRwczovL2tzdGIuaHVuYW4uZ292LmNu"
    "L29hdXRoMi90b2tlbiIsImp0aSI6IjZmMWQyYzNiLTBhOWUtNGY4ZC1iN2M2LTAwMDAwMDAwMDAwMSIsImlhdCI6MTc0ODM5NTIwMCwiZXhw"
    "IjoxNzQ4Mzk1NTAwfQ."
    "x7G-6SW9gRQAzowtzZGjC-pviO1pxTXtM8PFPhN851L8GZV7rSQN0dwQhMsoU3iHk0bwX2KUFGGGlhlaWQcTtw"
)
DOC_TOKEN_URL = "https://kstb.hunan.gov.cn/oauth2/token"
DOC_ED25519 = "57c50c32adee9d9a4e207363b02f59607439c387d2f54587cc3c2df2fd46a26f"
DOC_ED25519_PUB = "756e83fda4f8ea9dcf11e428da14ede40da6282522206cc2e2c1e8328e82f624"
DOC_URI = "https://kstb.hunan.gov.cn/api/v2/cases/3302002405644220556/status-events"
DOC_BASE = (
    '"@method": POST\n'
    '"@target-uri": https://kstb.hunan.gov.cn/api/v2/cases/3302002405644220556/status-events\n'
    '"content-digest": sha-256=:LBXZAJqCH6cBvzVxtiEv9g+I711J3FpoJbN0Fe5/jcs=:\n'
    '"content-type": application/json\n'
    '"@signature-params": ("@method" "@target-uri" "content-digest" "content-type");created=1748395200;'
    'nonce="b3k2pp5k7z-50gnwp.yemd";keyid="gw-ed25519-test-01";alg="ed25519"'
)
DOC_HEADERS = {
    "Content-Digest": "sha-256=:LBXZAJqCH6cBvzVxtiEv9g+I711J3FpoJbN0Fe5/jcs=:",
    "Content-Type": "application/json",
    "Signature-Input": 'sig1=("@method" "@target-uri" "content-digest" "content-type");created=1748395200;'
    'nonce="b3k2pp5k7z-50gnwp.yemd";keyid="gw-ed25519-test-01";alg="ed25519"',
    "Signature": "sig1=:GubBs60xGK6nPRtzgC/XZYuWGvWof/iN9S09ZnvFWM7iMroGZjixlKbgCvRTgQVqF4oG2P3pIFlXwQrnfEaSBw==:",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _doc_key() -> SigningKey:
    return SigningKey.of("gw-ed25519-test-01", ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOC_ED25519)))


def test_doc_rfc9421_example_recomputes_headers_and_base(samples_dir: Path) -> None:
    body = (samples_dir / "hunan/status/SS002.json").read_bytes()
    assert len(body) == 356
    url = hw.target_uri(DOC_URI)
    headers = hw.sign_request(
        "POST", url, body, "application/json", _doc_key(), created=1748395200, nonce="b3k2pp5k7z-50gnwp.yemd"
    )
    assert headers == DOC_HEADERS
    params = headers["Signature-Input"].removeprefix("sig1=")
    base = signature_base(HttpMessage(headers, method="POST", target_uri=url), hw.REQUEST_COMPONENTS, params)
    assert base.decode("utf-8") == DOC_BASE


def test_doc_rfc9421_example_verifies_with_printed_public_key(samples_dir: Path) -> None:
    body = (samples_dir / "hunan/status/SS002.json").read_bytes()
    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(DOC_ED25519_PUB))
    keys = {"gw-ed25519-test-01": VerificationKey.of("gw-ed25519-test-01", public)}
    headers = {k.lower(): v for k, v in DOC_HEADERS.items()}
    result = hw.verify_request("POST", DOC_URI, headers, body, keys)
    assert (result.keyid, result.created, result.nonce) == ("gw-ed25519-test-01", 1748395200, "b3k2pp5k7z-50gnwp.yemd")
    with pytest.raises(SignatureInvalid):  # the same headers over another URL
        hw.verify_request("POST", DOC_URI.replace("330200", "330201"), headers, body, keys)


def test_doc_client_assertion_verifies_and_expires() -> None:
    keys = {"gw-client-test-01": VerificationKey("gw-client-test-01", ALG_ES256, load_public_key(DOC_CLIENT_PUBLIC))}
    verified = hw.verify_client_assertion(DOC_ASSERTION, keys, "tongban-gw-test", DOC_TOKEN_URL, now=T0 + 60)
    assert (verified.client_id, verified.jti, verified.iat) == (
        "tongban-gw-test",
        "6f1d2c3b-0a9e-4f8d-b7c6-000000000001",
        T0,
    )
    with pytest.raises(TokenInvalid):
        hw.verify_client_assertion(DOC_ASSERTION, keys, "tongban-gw-test", DOC_TOKEN_URL, now=T0 + 301)
    with pytest.raises(TokenInvalid):
        hw.verify_client_assertion(DOC_ASSERTION, keys, "tongban-gw-test", "https://elsewhere/oauth2/token", T0)


def test_doc_client_assertion_header_and_claims_recompute() -> None:
    """ES256 signatures are randomised: the header and claims segments must be the document's bytes."""
    key = SigningKey("gw-client-test-01", ALG_ES256, generate_p256())
    ours = hw.make_client_assertion(key, "tongban-gw-test", DOC_TOKEN_URL, "6f1d2c3b-0a9e-4f8d-b7c6-000000000001", T0)
    assert ours.split(".")[:2] == DOC_ASSERTION.split(".")[:2]


def test_doc_token_form_is_the_printed_form() -> None:
    body = hw.token_request_body(DOC_ASSERTION)
    assert body.decode("ascii") == (
        "grant_type=client_credentials"
        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        f"&client_assertion={DOC_ASSERTION}&scope=kstb.case%20kstb.status"
    )
    assert hw.read_token_request(body) == hw.TokenRequest(DOC_ASSERTION, ("kstb.case", "kstb.status"))


def test_doc_problem_example_round_trips() -> None:
    body = render_problem(Refusal(C.ID_CHECKSUM, "applicant.id_number"), case_no="4301002506000000123")
    doc = json.loads(body)
    assert {k: doc[k] for k in ("type", "title", "status", "code", "field", "case_no")} == {
        "type": "https://kstb.hunan.gov.cn/problems/ID_CHECKSUM",
        "title": "证件号码校验位错误",
        "status": 422,
        "code": "ID_CHECKSUM",
        "field": "applicant.id_number",
        "case_no": "4301002506000000123",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://127.0.0.1:80/api/v2/cases", "http://127.0.0.1/api/v2/cases"),
        ("https://Kstb.Hunan.gov.cn:443/oauth2/token", "https://kstb.hunan.gov.cn/oauth2/token"),
        ("http://127.0.0.1:8080/api/v2/cases/X1?y=1", "http://127.0.0.1:8080/api/v2/cases/X1?y=1"),
    ],
)
def test_target_uri_form(url: str, expected: str) -> None:
    assert hw.target_uri(url) == expected


# --- the loopback simulator ------------------------------------------------------------------------------------------
class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Env:
    base: str
    sim: SimulatedPlatform
    plan: FaultPlan
    server_clock: Clock
    client_clock: Clock
    transport: AiohttpTransport
    gw: Link
    registry: Registry

    def client(self, transport: Any = None, link: Link | None = None) -> Client:
        platform = self.registry.platforms["changsha"]
        ctx = WireContext(platform, link or self.gw, self.registry.adapter("hunan"), self.client_clock, self.base)
        return Client(ctx, transport or self.transport)

    async def send(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        return await self.transport.send(HttpRequest(method, self.base + path, headers or {}, body or b""))

    def signed(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        token: str | None = None,
        key: SigningKey | None = None,
        created: float | None = None,
        nonce: str | None = None,
        content_type: str = "application/json",
    ) -> dict[str, str]:
        headers = hw.sign_request(
            method,
            hw.target_uri(self.base + path),
            body,
            content_type if body is not None else None,
            key or self.gw.signing_key,
            created=int(self.client_clock() if created is None else created),
            nonce=nonce or uuid.uuid4().hex,
        )
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def assertion(self, key: SigningKey | None = None, **changes: Any) -> str:
        """A client assertion for this simulator, with claims changed as a hostile or careless client would."""
        claims = hw.assertion_claims(
            self.gw.client_id, hw.target_uri(self.base + hw.TOKEN_PATH), uuid.uuid4().hex, self.client_clock()
        )
        claims.update(changes)
        return issue_jwt(claims, key or self.gw.assertion_key)

    async def token_call(
        self, assertion: str | None = None, scope: tuple[str, ...] = hw.SCOPES, sign: bool = True
    ) -> HttpResponse:
        body = hw.token_request_body(assertion or self.assertion(), scope)
        headers = (
            self.signed("POST", hw.TOKEN_PATH, body, content_type=hw.FORM_CONTENT_TYPE)
            if sign
            else {"Content-Type": hw.FORM_CONTENT_TYPE}
        )
        return await self.send("POST", hw.TOKEN_PATH, body, headers)

    async def token(self, scope: tuple[str, ...] = hw.SCOPES) -> str:
        response = await self.token_call(scope=scope)
        assert response.status == 200, response.body
        return hw.parse_token_answer(response.body).access_token

    def refused(self, response: HttpResponse, status: int, code: C, field: str | None = None) -> None:
        """A §4 problem document with ``status`` and ``code``, signed like every answer (§3)."""
        assert response.status == status, response.body
        assert response.header("content-type") == "application/problem+json"
        hw.verify_response(response.status, response.headers, response.body, self.gw.peer_signing_keys)
        problem = parse_problem(response.body)
        assert (problem.status, problem.code, problem.field) == (status, code, field)


@pytest.fixture(scope="module")
def link_dir(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("hunan-link")
    gateway_side, platform_side = generate_link(folder, registry.platforms["changsha"])
    return folder, gateway_side, platform_side


@pytest.fixture
async def env(link_dir: tuple[Path, dict[str, Any], dict[str, Any]], registry: Registry) -> AsyncIterator[Env]:
    folder, gateway_side, platform_side = link_dir
    server_clock, client_clock, plan = Clock(), Clock(), FaultPlan()
    spec = SimulatorSpec(registry.platforms["changsha"], platform_side, folder)
    app, sim, tls = build_simulator(spec, registry, clock=server_clock, plan=plan)
    assert tls is None
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    transport = AiohttpTransport()
    try:
        yield Env(
            str(server.make_url("")).rstrip("/"),
            sim,
            plan,
            server_clock,
            client_clock,
            transport,
            load_link(gateway_side, folder),
            registry,
        )
    finally:
        await transport.close()
        await server.close()


@pytest.fixture(scope="module")
def case_sc001(samples_dir: Path, registry: Registry) -> Case:
    record: Case = registry.adapter("hunan").decode("case", (samples_dir / "hunan/case/SC001.json").read_bytes())
    return record


@pytest.fixture(scope="module")
def status_ss002(samples_dir: Path, registry: Registry) -> StatusEvent:
    record: StatusEvent = registry.adapter("hunan").decode(
        "status", (samples_dir / "hunan/status/SS002.json").read_bytes()
    )
    return record


def _book_record(value: Any) -> Any:
    """A record's reference values as the RecordBook keeps them (datetimes as ISO text)."""
    if isinstance(value, dict):
        return {k: _book_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_book_record(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


class Recorder(FakeTransport):
    """The real transport underneath, with the requests kept (and answers optionally altered)."""

    def __init__(self, inner: AiohttpTransport, alter: Callable[[HttpResponse], HttpResponse] | None = None) -> None:
        async def handler(request: HttpRequest) -> HttpResponse:
            response = await inner.send(request)
            return alter(response) if alter is not None else response

        super().__init__(handler)


# --- round trips ------------------------------------------------------------------------------------------------------
async def test_case_is_accepted_kept_read_back_and_repeated(env: Env, case_sc001: Case) -> None:
    client = env.client()
    first = await client.submit("case", case_sc001, "m-1")
    assert not first.repeated and first.receipt_no.startswith(case_sc001.case_no + "@")
    (kept,) = env.sim.book.snapshot("case")
    assert kept["record"] == _book_record(to_ref(case_sc001)) and kept["caller"] == "tongban-gw"
    assert await client.read_case(case_sc001.case_no) == case_sc001
    env.client_clock.now += 30
    env.server_clock.now += 30
    again = await client.submit("case", case_sc001, "m-1")
    assert again.repeated and again.receipt_no == first.receipt_no  # the first result, received_at included
    assert len(env.sim.book.snapshot("case")) == 1
    assert client.token_fetches == 1


async def test_status_event_is_accepted_and_repeated(env: Env, status_ss002: StatusEvent) -> None:
    client = env.client()
    first = await client.submit("status", status_ss002, "m-2")
    second = await client.submit("status", status_ss002, "m-2")
    assert (first.repeated, second.repeated, second.receipt_no) == (False, True, first.receipt_no)
    (kept,) = env.sim.book.snapshot("status")
    assert kept["record"] == _book_record(to_ref(status_ss002))


async def test_receipt_statuses_are_201_202_and_200(env: Env, samples_dir: Path) -> None:
    token = await env.token()
    for path, sample, status in (
        (hw.CASES_PATH, "case/SC002.json", 201),
        (hw.CASES_PATH, "case/SC002.json", 200),
        (hw.status_path("3302002405644220556"), "status/SS002.json", 202),
    ):
        body = (samples_dir / "hunan" / sample).read_bytes()
        response = await env.send("POST", path, body, env.signed("POST", path, body, token=token))
        assert response.status == status
        hw.verify_response(response.status, response.headers, response.body, env.gw.peer_signing_keys)
        assert parse_receipt(response.body).received_at.isoformat() == "2025-05-28T09:20:00+08:00"


async def test_unknown_case_reads_as_none(env: Env) -> None:
    assert await env.client().read_case("4301002506000000123") is None


async def test_concurrent_calls_share_one_token(env: Env, case_sc001: Case) -> None:
    client = env.client()
    cases = [dataclasses.replace(case_sc001, case_no=f"{case_sc001.case_no[:-1]}{i}") for i in range(5)]
    await asyncio.gather(*(client.submit("case", c, f"m-{i}") for i, c in enumerate(cases)))
    assert client.token_fetches == 1 and len(env.sim.book.snapshot("case")) == 5


async def test_token_is_renewed_before_it_ends(env: Env, status_ss002: StatusEvent) -> None:
    client = env.client()
    await client.submit("status", status_ss002, "m")
    for clock in (env.client_clock, env.server_clock):
        clock.now += 541  # 600 - 60 s early
    await client.submit("status", dataclasses.replace(status_ss002, seq=5), "m")
    assert client.token_fetches == 2


async def test_expired_bearer_is_refreshed_once(env: Env, status_ss002: StatusEvent) -> None:
    client = env.client()
    await client.submit("status", status_ss002, "m")
    env.client_clock.now += 500  # the client still trusts its token ...
    env.server_clock.now += 601  # ... which the platform has let expire: 401 AUTH_FAILED, one refresh
    accepted = await client.submit("status", dataclasses.replace(status_ss002, seq=5), "m")
    assert not accepted.repeated and client.token_fetches == 2


# --- business refusals -----------------------------------------------------------------------------------------------
async def test_lower_sequence_is_rule_violation(env: Env, status_ss002: StatusEvent) -> None:
    client = env.client()
    await client.submit("status", status_ss002, "m")
    with pytest.raises(Refusal) as caught:
        await client.submit("status", dataclasses.replace(status_ss002, seq=3), "m")
    assert caught.value.code == "RULE_VIOLATION"


async def test_bad_id_number_reaches_the_client_with_its_field(env: Env, case_sc001: Case) -> None:
    agent = dataclasses.replace(case_sc001.agent, id_number="340121199904278687")
    with pytest.raises(Refusal) as caught:
        await env.client().submit("case", dataclasses.replace(case_sc001, agent=agent), "m")
    assert (caught.value.code, caught.value.where) == ("ID_CHECKSUM", "agent.id_number")
    assert env.sim.book.snapshot() == []


async def test_status_case_no_must_equal_the_path(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/status/SS002.json").read_bytes()
    path = hw.status_path("3302002405644220557")
    response = await env.send("POST", path, body, env.signed("POST", path, body, token=await env.token()))
    env.refused(response, 422, C.RULE_VIOLATION, "case_no")
    assert parse_problem(response.body).case_no == "3302002405644220557"


async def test_field_refusal_names_the_case(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes().replace(b"340121199904278686", b"340121199904278687")
    response = await env.send(
        "POST", hw.CASES_PATH, body, env.signed("POST", hw.CASES_PATH, body, token=await env.token())
    )
    env.refused(response, 422, C.ID_CHECKSUM, "agent.id_number")
    assert parse_problem(response.body).case_no == "3205002405030562129"


async def test_client_refuses_a_type_hunan_does_not_carry(env: Env, case_sc001: Case) -> None:
    with pytest.raises(Refusal) as caught:
        await env.client().submit("licence", case_sc001, "m")
    assert caught.value.code == C.UNSUPPORTED_TYPE


async def _raw_post(base: str, path: str, body: bytes) -> HttpResponse:
    """A plain HTTP/1.1 POST over a socket: aiohttp's client warns (ResourceWarning) on raw bodies over 1 MiB."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii"))
    writer.write(body)
    with contextlib.suppress(ConnectionError):  # the server may answer and close before reading everything
        await writer.drain()
    raw = await reader.read()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    head_bytes, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return HttpResponse(int(lines[0].split()[1]), headers, payload[: int(headers["content-length"])])


async def test_body_over_one_mebibyte_is_refused_before_authentication(env: Env) -> None:
    body = b'{"remark":"' + b"x" * 1048576 + b'"}'
    env.refused(await _raw_post(env.base, hw.CASES_PATH, body), 413, C.BODY_TOO_LARGE)


async def test_body_of_exactly_one_mebibyte_passes_the_size_check(env: Env) -> None:
    body = b'{"remark":"' + b"x" * (1048576 - 13) + b'"}'
    assert len(body) == 1048576
    env.refused(await _raw_post(env.base, hw.CASES_PATH, body), 401, C.AUTH_FAILED)


async def test_non_json_content_type_is_malformed(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes()
    headers = env.signed("POST", hw.CASES_PATH, body, token=await env.token(), content_type="text/plain")
    env.refused(await env.send("POST", hw.CASES_PATH, body, headers), 400, C.MALFORMED)


# --- security: bearer and message signature (§2, §3) ----------------------------------------------------------------
Tamper = Callable[[Env, bytes, str], Awaitable[tuple[bytes, dict[str, str]]]]


async def _no_auth(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, env.signed("POST", hw.CASES_PATH, body)


async def _unknown_token(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, env.signed("POST", hw.CASES_PATH, body, token=token[::-1])


async def _basic_auth(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    headers = env.signed("POST", hw.CASES_PATH, body)
    headers["Authorization"] = "Basic " + token
    return body, headers


async def _status_only_scope(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, env.signed("POST", hw.CASES_PATH, body, token=await env.token(scope=("kstb.status",)))


async def _wrong_key(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    impostor = SigningKey.of(env.gw.signing_key.kid, ed25519.Ed25519PrivateKey.generate())
    return body, env.signed("POST", hw.CASES_PATH, body, token=token, key=impostor)


async def _unknown_kid(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    stranger = SigningKey.of("nobody-ed25519-01", ed25519.Ed25519PrivateKey.generate())
    return body, env.signed("POST", hw.CASES_PATH, body, token=token, key=stranger)


async def _tampered_body(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    headers = env.signed("POST", hw.CASES_PATH, body, token=token)
    return body.replace(b'"version": 4', b'"version": 5'), headers


async def _signature_over_other_bytes(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    other = body.replace(b'"version": 4', b'"version": 5')
    headers = env.signed("POST", hw.CASES_PATH, body, token=token)
    headers["Content-Digest"] = content_digest(other)  # the digest matches, the signature does not
    return other, headers


async def _no_signature(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    headers = env.signed("POST", hw.CASES_PATH, body, token=token)
    del headers["Signature"], headers["Signature-Input"]
    return body, headers


async def _no_digest(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    headers = env.signed("POST", hw.CASES_PATH, body, token=token)
    del headers["Content-Digest"]
    return body, headers


async def _other_label(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    headers = env.signed("POST", hw.CASES_PATH, body, token=token)
    headers = {k: v.replace("sig1=", "sig2=", 1) if k.startswith("Signature") else v for k, v in headers.items()}
    return body, headers


def _custom(
    env: Env, body: bytes, token: str, components: tuple[str, ...], params: tuple[tuple[str, Any], ...]
) -> dict[str, str]:
    """A signature a careless client might send: any component list and parameters, validly signed."""
    headers = {
        "Content-Digest": content_digest(body),
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
    }
    message = HttpMessage(headers, method="POST", target_uri=hw.target_uri(env.base + hw.CASES_PATH))
    value = serialize_inner_list(components, params)
    private = env.gw.signing_key.private
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    signature = private.sign(signature_base(message, components, value))
    headers["Signature-Input"] = f"sig1={value}"
    headers["Signature"] = f"sig1=:{base64.b64encode(signature).decode()}:"
    return headers


def _params(env: Env, *, drop: str = "", alg: str = "ed25519") -> tuple[tuple[str, Any], ...]:
    every = (
        ("created", int(env.client_clock())),
        ("nonce", uuid.uuid4().hex),
        ("keyid", env.gw.signing_key.kid),
        ("alg", alg),
    )
    return tuple(p for p in every if p[0] != drop)


async def _other_order(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    order = ("@target-uri", "@method", "content-digest", "content-type")
    return body, _custom(env, body, token, order, _params(env))


async def _fewer_components(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, _custom(env, body, token, ("@method", "@target-uri", "content-digest"), _params(env))


async def _without_nonce(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, _custom(env, body, token, hw.REQUEST_COMPONENTS, _params(env, drop="nonce"))


async def _without_alg(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, _custom(env, body, token, hw.REQUEST_COMPONENTS, _params(env, drop="alg"))


async def _other_alg(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, _custom(env, body, token, hw.REQUEST_COMPONENTS, _params(env, alg="hmac-sha256"))


async def _old_created(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, env.signed("POST", hw.CASES_PATH, body, token=token, created=env.server_clock() - 301)


async def _future_created(env: Env, body: bytes, token: str) -> tuple[bytes, dict[str, str]]:
    return body, env.signed("POST", hw.CASES_PATH, body, token=token, created=env.server_clock() + 301)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_no_auth, C.AUTH_FAILED),
        (_unknown_token, C.AUTH_FAILED),
        (_basic_auth, C.AUTH_FAILED),
        (_status_only_scope, C.AUTH_FAILED),
        (_wrong_key, C.SIGNATURE_INVALID),
        (_unknown_kid, C.SIGNATURE_INVALID),
        (_tampered_body, C.SIGNATURE_INVALID),
        (_signature_over_other_bytes, C.SIGNATURE_INVALID),
        (_no_signature, C.SIGNATURE_INVALID),
        (_no_digest, C.SIGNATURE_INVALID),
        (_other_label, C.SIGNATURE_INVALID),
        (_other_order, C.SIGNATURE_INVALID),
        (_fewer_components, C.SIGNATURE_INVALID),
        (_without_nonce, C.SIGNATURE_INVALID),
        (_without_alg, C.SIGNATURE_INVALID),
        (_other_alg, C.SIGNATURE_INVALID),
        (_old_created, C.REPLAYED),
        (_future_created, C.REPLAYED),
    ],
)
async def test_business_call_refusals(env: Env, samples_dir: Path, tamper: Tamper, code: C) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes()
    sent, headers = await tamper(env, body, await env.token())
    env.refused(await env.send("POST", hw.CASES_PATH, sent, headers), 401, code)
    assert env.sim.book.snapshot() == []


async def test_created_299_s_old_is_inside_the_window(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes()
    token = await env.token()
    headers = env.signed("POST", hw.CASES_PATH, body, token=token, created=env.server_clock() - 299)
    assert (await env.send("POST", hw.CASES_PATH, body, headers)).status == 201


async def test_repeated_nonce_is_replayed(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes()
    token = await env.token()
    first = await env.send(
        "POST", hw.CASES_PATH, body, env.signed("POST", hw.CASES_PATH, body, token=token, nonce="n-1")
    )
    assert first.status == 201
    env.client_clock.now += 5
    env.server_clock.now += 5
    again = env.signed("POST", hw.CASES_PATH, body, token=token, nonce="n-1")  # re-signed, same nonce
    env.refused(await env.send("POST", hw.CASES_PATH, body, again), 401, C.REPLAYED)


async def test_expired_bearer_is_auth_failed(env: Env, samples_dir: Path) -> None:
    body = (samples_dir / "hunan/case/SC001.json").read_bytes()
    token = await env.token()
    env.server_clock.now += 600
    env.client_clock.now += 600
    response = await env.send("POST", hw.CASES_PATH, body, env.signed("POST", hw.CASES_PATH, body, token=token))
    env.refused(response, 401, C.AUTH_FAILED)


async def test_signed_read_without_a_body(env: Env, case_sc001: Case) -> None:
    await env.client().submit("case", case_sc001, "m")
    path = hw.case_path(case_sc001.case_no)
    token = await env.token()
    ok = await env.send("GET", path, None, env.signed("GET", path, None, token=token))
    assert ok.status == 200 and "content-digest" in ok.headers
    body_style = env.signed("GET", path, b"", token=token)  # the POST component list on a GET
    env.refused(await env.send("GET", path, None, body_style), 401, C.SIGNATURE_INVALID)
    other_case = env.signed("GET", hw.case_path("4301002506000000123"), None, token=token)
    env.refused(await env.send("GET", path, None, other_case), 401, C.SIGNATURE_INVALID)


# --- security: the token endpoint (§2) ------------------------------------------------------------------------------
def _hs256_with_public_key(env: Env) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "kid": env.gw.assertion_key.kid, "typ": "JWT"}).encode())
    claims = hw.assertion_claims(env.gw.client_id, hw.target_uri(env.base + hw.TOKEN_PATH), "j-hs", T0)
    payload = _b64url(json.dumps(claims).encode())
    secret = public_key_pem(env.gw.assertion_key.private)
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(mac)}"


def _alg_none(env: Env) -> str:
    header = _b64url(json.dumps({"alg": "none", "kid": env.gw.assertion_key.kid, "typ": "JWT"}).encode())
    claims = hw.assertion_claims(env.gw.client_id, hw.target_uri(env.base + hw.TOKEN_PATH), "j-none", T0)
    return f"{header}.{_b64url(json.dumps(claims).encode())}."


ASSERTIONS: dict[str, Callable[[Env], str]] = {
    "wrong aud": lambda e: e.assertion(aud="https://kstb.hunan.gov.cn/oauth2/token"),
    "expired": lambda e: e.assertion(iat=int(T0) - 400, exp=int(T0) - 100),
    "lifetime over 300 s": lambda e: e.assertion(exp=int(T0) + 301),
    "no jti": lambda e: e.assertion(jti=None),
    "sub is not iss": lambda e: e.assertion(sub="someone-else"),
    "another client": lambda e: e.assertion(iss="someone-else", sub="someone-else"),
    "hs256 keyed with the public key": _hs256_with_public_key,
    "alg none": _alg_none,
    "signed by another key": lambda e: e.assertion(key=SigningKey(e.gw.assertion_key.kid, ALG_ES256, generate_p256())),
    "unknown kid": lambda e: e.assertion(key=SigningKey("nobody-es256", ALG_ES256, generate_p256())),
    "signed with the ed25519 message key": lambda e: e.assertion(key=e.gw.signing_key),
}


@pytest.mark.parametrize("case", sorted(ASSERTIONS))
async def test_token_refusals(env: Env, case: str) -> None:
    env.refused(await env.token_call(ASSERTIONS[case](env)), 401, C.AUTH_FAILED)


async def test_a_valid_assertion_gets_a_600_s_token(env: Env) -> None:
    response = await env.token_call()
    assert response.status == 200 and response.header("content-type") == "application/json"
    hw.verify_response(response.status, response.headers, response.body, env.gw.peer_signing_keys)
    answer = hw.parse_token_answer(response.body)
    assert (answer.expires_in, answer.scope) == (600, hw.SCOPES) and json.loads(response.body)["token_type"] == "Bearer"
    assert answer.access_token not in repr(answer)


async def test_reused_assertion_jti_is_refused(env: Env) -> None:
    assertion = env.assertion()
    assert (await env.token_call(assertion)).status == 200
    env.refused(await env.token_call(assertion), 401, C.AUTH_FAILED)


async def test_unsigned_token_request_is_signature_invalid(env: Env) -> None:
    env.refused(await env.token_call(sign=False), 401, C.SIGNATURE_INVALID)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (b"grant_type=password&client_assertion=x", "grant_type"),
        (b"", "grant_type"),
        (b"grant_type=client_credentials&grant_type=client_credentials", None),
        (b"\xff\xfe", None),
        (b"grant_type=client_credentials&client_assertion_type=basic", "client_assertion_type"),
    ],
)
async def test_unreadable_token_form_is_auth_failed(env: Env, form: bytes, field: str | None) -> None:
    headers = env.signed("POST", hw.TOKEN_PATH, form, content_type=hw.FORM_CONTENT_TYPE)
    env.refused(await env.send("POST", hw.TOKEN_PATH, form, headers), 401, C.AUTH_FAILED, field)


async def test_form_body_sent_as_json_is_auth_failed(env: Env) -> None:
    body = hw.token_request_body(env.assertion())
    headers = env.signed("POST", hw.TOKEN_PATH, body, content_type="application/json")
    env.refused(await env.send("POST", hw.TOKEN_PATH, body, headers), 401, C.AUTH_FAILED)


async def test_unknown_scope_is_auth_failed(env: Env) -> None:
    env.refused(await env.token_call(scope=("kstb.licence",)), 401, C.AUTH_FAILED, "scope")


# --- the client verifies answers ------------------------------------------------------------------------------------
def _tamper_receipt(response: HttpResponse) -> HttpResponse:
    if response.status in (200, 201, 202) and b"received_at" in response.body:
        return dataclasses.replace(response, body=response.body.replace(b"+08:00", b"+07:00"))
    return response


def _strip_signature(response: HttpResponse) -> HttpResponse:
    headers = {k: v for k, v in response.headers.items() if not k.startswith("signature")}
    return dataclasses.replace(response, headers=headers)


@pytest.mark.parametrize("alter", [_tamper_receipt, _strip_signature])
async def test_client_raises_on_a_bad_answer(
    env: Env, case_sc001: Case, alter: Callable[[HttpResponse], HttpResponse]
) -> None:
    with pytest.raises(ServerError, match="unverified answer"):
        await env.client(Recorder(env.transport, alter)).submit("case", case_sc001, "m")


async def test_client_raises_on_a_replayed_answer(env: Env, case_sc001: Case) -> None:
    kept: list[HttpResponse] = []

    def replay(response: HttpResponse) -> HttpResponse:
        if response.status == 201:
            kept.append(response)
        return kept[0] if response.status == 200 and kept else response

    client = env.client(Recorder(env.transport, replay))
    await client.submit("case", case_sc001, "m")
    with pytest.raises(ServerError, match="unverified answer"):
        await client.submit("case", case_sc001, "m")  # answered 200 by the platform, 201 replayed to us


async def test_client_raises_on_an_answer_from_another_key(
    env: Env, link_dir: Any, case_sc001: Case, tmp_path: Path, registry: Registry
) -> None:
    other_gateway_side, _ = generate_link(tmp_path, registry.platforms["changsha"])
    stranger = load_link(other_gateway_side, tmp_path)
    link = dataclasses.replace(env.gw, peer_signing_keys=stranger.peer_signing_keys)
    with pytest.raises(ServerError, match="unverified answer"):
        await env.client(link=link).submit("case", case_sc001, "m")


async def test_answer_outside_the_clients_window_is_unverified(env: Env, case_sc001: Case) -> None:
    env.client_clock.now += 400
    with pytest.raises(ServerError, match="unverified answer"):
        await env.client().submit("case", case_sc001, "m")


# --- faults ----------------------------------------------------------------------------------------------------------
async def test_faults_map_to_transient_errors_and_a_retry_is_freshly_signed(env: Env, case_sc001: Case) -> None:
    recorder = Recorder(env.transport)
    client = env.client(recorder)
    await client.read_case("000000")  # the token first, so each fault below hits the submission itself
    put = await env.send(
        "PUT", "/_sim/faults", json.dumps({"error_rate": 1}).encode(), {"Content-Type": "application/json"}
    )
    assert put.status == 200
    with pytest.raises(ServerError):
        await client.submit("case", case_sc001, "m")
    env.plan.update({"error_rate": 0, "throttle_rate": 1, "retry_after": 7})
    with pytest.raises(Throttled) as throttled:
        await client.submit("case", case_sc001, "m")
    assert throttled.value.retry_after == 7
    env.plan.update({"throttle_rate": 0, "drop_rate": 1})
    with pytest.raises(ConnectionFailed):
        await client.submit("case", case_sc001, "m")
    env.plan.update({"drop_rate": 0})
    env.client_clock.now += 2
    env.server_clock.now += 2
    accepted = await client.submit("case", case_sc001, "m")
    assert not accepted.repeated
    submissions = [r for r in recorder.sent if r.method == "POST" and r.path == hw.CASES_PATH]
    inputs = [r.header("signature-input") for r in submissions]
    assert len(submissions) == 4 and len(set(inputs)) == 4  # a new nonce every attempt
    assert "created=1748395202" in (inputs[-1] or "")


# --- configuration ---------------------------------------------------------------------------------------------------
def test_generated_private_keys_are_owner_only(link_dir: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    folder, gateway_side, platform_side = link_dir
    for side in (gateway_side, platform_side):
        for key in ("assertion_key", "signing_key"):
            assert stat.S_IMODE((folder / side[key]).stat().st_mode) == 0o600
    link = load_link(platform_side, folder)
    assert repr(link) == "Link(changsha ↔ tongban-gw)"
    assert link.peer_signing_keys.keys() == {gateway_side["signing_key_kid"]}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"client_id": ""}, "client_id"),
        ({"assertion_key": "missing.pem"}, "assertion_key"),
        ({"peer_signing_keys": {}}, "peer_signing_keys"),
    ],
)
def test_link_errors_name_the_key(
    link_dir: tuple[Path, dict[str, Any], dict[str, Any]], change: dict[str, Any], key: str
) -> None:
    folder, gateway_side, _ = link_dir
    with pytest.raises(ConfigError) as caught:
        load_link({**gateway_side, **change}, folder)
    assert caught.value.key == key


def test_a_key_of_the_wrong_algorithm_is_refused(link_dir: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    folder, gateway_side, _ = link_dir
    swapped = {**gateway_side, "assertion_key": gateway_side["signing_key"]}
    with pytest.raises(ConfigError) as caught:
        load_link(swapped, folder)
    assert caught.value.key == "assertion_key"


# --- the other direction: the platform calls the gateway's endpoint with the same link type -------------------------
async def test_simulator_emits_a_status_event_to_the_gateways_endpoint(
    link_dir: tuple[Path, dict[str, Any], dict[str, Any]], registry: Registry, status_ss002: StatusEvent
) -> None:
    folder, gateway_side, platform_side = link_dir
    platform, clock = registry.platforms["changsha"], Clock()
    inbound = SimulatedPlatform(platform)  # stands in for the gateway's business side
    ctx = WireContext(platform, load_link(gateway_side, folder), registry.adapter("hunan"), clock)
    gateway_app = web.Application()
    gateway_app.add_routes(endpoint_routes(Endpoint(ctx, InMemoryReplayGuard(), inbound)))
    gateway = TestServer(gateway_app, host="127.0.0.1", port=0)
    await gateway.start_server()
    spec = SimulatorSpec(platform, platform_side, folder, gateway_url=str(gateway.make_url("")).rstrip("/"))
    app, _, _ = build_simulator(spec, registry, clock=clock)
    simulator = TestServer(app, host="127.0.0.1", port=0)
    await simulator.start_server()
    transport = AiohttpTransport()
    try:
        values = _book_record(to_ref(status_ss002))
        response = await transport.send(
            HttpRequest(
                "POST",
                str(simulator.make_url("/_sim/emit-status")),
                {"content-type": "application/json"},
                json.dumps(values).encode(),
            )
        )
        assert response.status == 200, response.body
        assert json.loads(response.body)["receipt"].startswith("3302002405644220556@")
        (kept,) = inbound.book.snapshot("status")
        assert kept["record"] == values and kept["caller"] == "changsha"
    finally:
        await transport.close()
        await simulator.close()
        await gateway.close()


async def test_a_handler_fault_is_a_signed_500_and_a_server_error(
    link_dir: tuple[Path, dict[str, Any], dict[str, Any]], registry: Registry, status_ss002: StatusEvent
) -> None:
    folder, gateway_side, platform_side = link_dir
    platform, clock = registry.platforms["changsha"], Clock()

    async def broken(call: InboundCall) -> Accepted:
        raise RuntimeError("the business side fell over")

    ctx = WireContext(platform, load_link(platform_side, folder), registry.adapter("hunan"), clock)
    app = web.Application()
    app.add_routes(endpoint_routes(Endpoint(ctx, InMemoryReplayGuard(), broken)))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    inner = AiohttpTransport()
    answers: list[HttpResponse] = []

    def keep(response: HttpResponse) -> HttpResponse:
        answers.append(response)
        return response

    client_ctx = WireContext(
        platform,
        load_link(gateway_side, folder),
        registry.adapter("hunan"),
        clock,
        str(server.make_url("")).rstrip("/"),
    )
    try:
        with pytest.raises(ServerError, match="HTTP 500"):
            await Client(client_ctx, Recorder(inner, keep)).submit("status", status_ss002, "m")
        fault = answers[-1]
        assert fault.status == 500 and b"fell over" not in fault.body
        hw.verify_response(500, fault.headers, fault.body, load_link(gateway_side, folder).peer_signing_keys)
    finally:
        await inner.close()
        await server.close()


async def test_unknown_case_404_carries_a_code_like_every_refusal(env: Env) -> None:
    """Issue 11 item 10: the read route's 404 is a signed §4 document with a stable ``code``."""
    path = hw.case_path("4301002506000000123")
    token = await env.token()
    response = await env.send("GET", path, None, env.signed("GET", path, None, token=token))
    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"
    hw.verify_response(response.status, response.headers, response.body, env.gw.peer_signing_keys)
    assert json.loads(response.body) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "code": "NOT_FOUND",
    }
