"""The anhui wire scheme (anhui.md §2-§6) in both roles, against a real loopback simulator of hefei.

The document's worked examples are recomputed or verified with the scheme functions; every security refusal is
checked for its documented code, HTTP status and signed §4 envelope; faults come from the simulator's fault plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import stat
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

import adapters.anhui.simulator as anhui_extras
from adapters.anhui import roles as anhui
from adapters.anhui import scheme as w
from adapters.wire import HttpRequest, HttpResponse
from gateway.consent import ConsentVerifier, InMemoryJtiGuard, issue_consent
from gateway.delivery.outcomes import ConnectionFailed, ServerError, Throttled
from gateway.errors import ConfigError, Refusal
from gateway.model.identifiers import check_licence_id, mod37_36
from gateway.model.licence_sign import LicenceSignature, licence_signing_string
from gateway.model.records import Licence, LicenceQuery, StatusEvent, SurfaceEntry, to_ref
from gateway.server.endpoints import endpoint_routes
from gateway.simulate.app import SimulatorSpec, build_simulator
from gateway.simulate.catalogue import Catalogue
from gateway.simulate.faults import FaultPlan
from gateway.transport import AiohttpTransport, FakeTransport
from gateway.wire.base import Accepted, InboundCall, LicenceAnswer, WireContext
from signing.b64 import b64url_encode
from signing.devpki import generate_p256, generate_sm2
from signing.keys import SigningKey, VerificationKey, load_private_key, load_public_key, sm2_public_from_hex
from signing.replay import InMemoryReplayGuard
from signing.secret import Secret
from signing.sm import sm2_sign_b64, sm2_verify_b64

CONSENT_ISS = "https://akm.ahzwfw.gov.cn"  # anhui.md §6.6: the consent issuer of these tests

NOW = 1748395200.0
BEIJING = timezone(timedelta(hours=8))

# --- anhui.md §2, §3, §9 worked examples (TEST ONLY keys printed in the document) ----------------------------------
TIF_TOKEN = "test-only-paas-token-hefei-0001"
TIF_NONCE = "1970b6a2c00-5f3e9a1b2c4d6e"
TIF_SIGNATURE = "06355578fc48ca9115db178ce4269866cf05195b69bb0023e17e9c80d24d06c7"
JWS_PRIVATE = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKTwcxucw/Y7iQNl+
2yZxwNPYn0tRWg/nrPkzabrlLWGhRANCAATwnjZhgE6YcpYJYMEdUoEq332Avupg
2Xwc/Cn/IoeCXlbkF73AM2BVTSzE4WwuUILnXKS9cGnOJs7fL8K3iPm6
-----END PRIVATE KEY-----
"""
JWS_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8J42YYBOmHKWCWDBHVKBKt99gL7q
YNl8HPwp/yKHgl5W5Be9wDNgVU0sxOFsLlCC51ykvXBpzibO3y/Ct4j5ug==
-----END PUBLIC KEY-----
"""
JWS_EXAMPLE = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImhlZmVpLWp3cy10ZXN0LTAxIiwiYjY0IjpmYWxzZSwiY3JpdCI6WyJiNjQiXX0.."
    "Bn8X75z1hsn17QvTV4wJhsXntt2kztRXWU1m4bBwW83DQkI3uFPn2mnUxV3urDXVnSqnKSLLBz4ysYavcM-NmQ"
)
SM2_PUBLIC_HEX = (
    "0436d2649b0e40d13df5c87947e5b8aae807d307c24ae9bf965c53c8b0320226a0f8ce9e76c0d5ebac8fb0d8c23a381d5fee"
    "4298da23cedc15df00a6902c0abb13"
)
SM2_SIGNATURE = "MEQCIEz2VE7PDkKYrImrMuZgJ0eeoREBlcoY57fjwlkQeaV+AiA4i9tuzBqFM55OXTRqwV/pCpP0TKnIGpsT14iND1rA9g=="
CONSENT_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGhLCfY6s3bANgLvDhsm/DE9rdPH1
cQsTNiHcGsxdWj5ukHKDdngW6JmlOVwz8hsNlyblBmtRSTIzJuE+AmI3ew==
-----END PUBLIC KEY-----
"""
CONSENT_TOKEN = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImFoa20tY29uc2VudC10ZXN0LTAxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FrbS5haHp3"
    "ZncuZ292LmNuIiwic3ViIjoiOTEzMzAyMDBNQjdVWUoxQTZIIiwiYXVkIjoibmluZ2JvIiwic2NvcGUiOiIxMTEwMDAwME1CM0wwREQ3MFcw"
    "MTciLCJwdXJwb3NlIjoiMzMwMjAwMjUwNjAwMDAwMDQxNyIsImp0aSI6ImMwZmZlZTAwLTEyMzQtNGFiYy04ZGVmLTAwMDAwMDAwMDAwMSIs"
    "ImlhdCI6MTc0ODM5NTIwMCwiZXhwIjoxNzQ4Mzk1ODAwfQ.xn_vDptptD0SUryRVWmdawGcfz11BgGqpEwe8Y6tQcTZnOYuBLXcBtp756dankw"
    "wRYpG2iOTiw9V7GsCCO2sfA"
)


class Clock:
    """An injected clock: tests move time by assigning ``now``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recording:
    """A transport with the real interface that keeps what was sent (to see that a retry is re-signed)."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self.inner = inner
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        self.sent.append(request)
        return await self.inner.send(request, timeout=timeout)


@dataclasses.dataclass
class Rig:
    server: TestServer
    sim: Any
    plan: FaultPlan
    clock: Clock
    gw: anhui.Link
    pf: anhui.Link
    client: anhui.Client
    transport: Recording
    spec: SimulatorSpec
    folder: Path

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def client_with(self, link: anhui.Link) -> anhui.Client:
        ctx = dataclasses.replace(self.client.ctx, link=link)
        return anhui.Client(ctx, self.transport)

    async def raw(self, req: HttpRequest) -> tuple[HttpResponse, dict[str, Any]]:
        """Send as-is; check the answer is signed by the platform and is the §4 envelope."""
        resp = await self.transport.inner.send(req)
        w.verify_body(resp.header(w.H_JWS), resp.body, {self.pf.jws_key.kid: self.pf.jws_key.verification_key()})
        return resp, json.loads(resp.body)

    def request(
        self,
        body: bytes,
        *,
        path: str = w.PATHS["case"],
        now: float | None = None,
        nonce: str | None = None,
        token: Secret | None = None,
        key: SigningKey | None = None,
        jws: str | None = None,
        method: str = "POST",
        query: str = "",
    ) -> HttpRequest:
        now = self.clock.now if now is None else now
        nonce = nonce or w.make_nonce(int(now * 1000), int.from_bytes(os.urandom(5), "big"))
        headers = w.tif_headers(self.gw.paas_id, token or self.gw.paas_token, now, nonce)
        headers[w.H_JWS] = jws if jws is not None else w.sign_body(body, key or self.gw.jws_key)
        headers["content-type"] = "application/json;charset=UTF-8"
        return HttpRequest(method, self.base + path + (f"?{query}" if query else ""), headers, body)


@pytest.fixture
async def rig(tmp_path: Path, registry: Any) -> AsyncIterator[Rig]:
    hefei = registry.platforms["hefei"]
    gw_side, pf_side = anhui.generate_link(tmp_path, hefei)
    clock = Clock()
    plan = FaultPlan()
    spec = SimulatorSpec(hefei, pf_side, tmp_path, options={"catalogue_size": 2500, "licence_count": 40})
    app, sim, tls = build_simulator(spec, registry, clock=clock, plan=plan)
    assert tls is None  # anhui runs TIF + JWS over plain HTTP towards the simulator
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    transport = Recording(AiohttpTransport())
    gw = anhui.load_link(gw_side, tmp_path)
    ctx = WireContext(hefei, gw, registry.adapter("anhui"), clock, str(server.make_url("")))
    client = anhui.Client(ctx, transport)
    pf = anhui.load_link(pf_side, tmp_path)
    try:
        yield Rig(server, sim, plan, clock, gw, pf, client, transport, spec, tmp_path)
    finally:
        await transport.inner.close()
        await server.close()


def sample(samples_dir: Path, kind: str, name: str) -> bytes:
    return (samples_dir / "anhui" / kind / name).read_bytes()


def jsonable(record: Any) -> Any:
    return json.loads(json.dumps(to_ref(record), default=lambda v: v.isoformat()))


# === worked examples ===============================================================================================
def test_tif_worked_example_recomputes_and_verifies() -> None:
    token = Secret(TIF_TOKEN)
    assert w.tif_signature("1748395200", token, TIF_NONCE) == TIF_SIGNATURE
    headers = w.tif_headers("hefei-kstb-test", token, NOW, TIF_NONCE)
    assert headers == {
        "x-tif-paasid": "hefei-kstb-test",
        "x-tif-timestamp": "1748395200",
        "x-tif-nonce": TIF_NONCE,
        "x-tif-signature": TIF_SIGNATURE,
    }
    assert w.read_tif(headers, {"hefei-kstb-test": token}) == w.TifCredentials("hefei-kstb-test", 1748395200, TIF_NONCE)


def test_jws_worked_example_verifies_and_recomputes(samples_dir: Path) -> None:
    body = sample(samples_dir, "status", "SS001.json")
    assert len(body) == 288
    assert hashlib.sha256(body).hexdigest() == "1d3f7c0cc584518ff592bae967cd91dbaee5a9e3328e2373bc105db725c60ea7"
    kid = "hefei-jws-test-01"
    keys = {kid: VerificationKey.of(kid, load_public_key(JWS_PUBLIC))}
    assert w.verify_body(JWS_EXAMPLE, body, keys) == kid
    mine = w.sign_body(body, SigningKey.of(kid, load_private_key(JWS_PRIVATE)))
    assert mine.split("..")[0] == JWS_EXAMPLE.split("..", maxsplit=1)[0]  # the protected header exactly as printed
    assert w.verify_body(mine, body, keys) == kid
    with pytest.raises(Refusal) as err:
        w.verify_body(JWS_EXAMPLE, body + b" ", keys)
    assert (err.value.code, err.value.where) == ("SIGNATURE_INVALID", "x-ah-jws")


def test_licence_signature_worked_example(registry: Any, samples_dir: Path) -> None:
    licence = registry.adapter("anhui").decode("licence", sample(samples_dir, "licence", "SL001.json"))
    signing_string = licence_signing_string(licence)
    assert len(signing_string) == 792
    assert signing_string.startswith(b'{"certificateAreaCode":"330200","certificateHolder":')
    sm2_verify_b64(sm2_public_from_hex(SM2_PUBLIC_HEX), SM2_SIGNATURE, signing_string)


def test_consent_worked_example() -> None:
    kid = "ahkm-consent-test-01"
    verifier = ConsentVerifier({kid: VerificationKey.of(kid, load_public_key(CONSENT_PUBLIC))})
    licence = Licence(
        "1.2.156.3005.2.11100000MB3L0DD70W017.11330200MBG28U8X89.330200202416191589.001.Z",
        "建筑工程施工许可证",
        "11100000MB3L0DD70W017",
        "00202416191589",
        "宁波文化传媒有限公司",
        "USCC",
        "91330200MB7UYJ1A6H",
        "宁波市市场监督管理局",
        "11330200MBG28U8X89",
        "330200",
        datetime(2024, 3, 22).date(),
        datetime(2024, 3, 22).date(),
        "VALID",
        (SurfaceEntry("持证主体", "宁波文化传媒有限公司"),),
    )
    claims = verifier.verify(CONSENT_TOKEN, requester="ningbo", licence=licence, now=NOW + 60)
    assert claims["jti"] == "c0ffee00-1234-4abc-8def-000000000001"
    assert verifier.verify(CONSENT_TOKEN, requester=None, licence=licence, now=NOW)["aud"] == "ningbo"
    refusals = {
        "wrong_audience": {"requester": "hefei", "licence": licence, "now": NOW},
        "expired": {"requester": "ningbo", "licence": licence, "now": NOW + 601},
        "out_of_scope": {
            "requester": "ningbo",
            "licence": dataclasses.replace(licence, type_code="11100000MB0A3K7N3P001"),
            "now": NOW,
        },
        "wrong_subject": {
            "requester": "ningbo",
            "licence": dataclasses.replace(licence, holder_code="91330200MB7UYJ1A6I"),
            "now": NOW,
        },
    }
    for reason, kwargs in refusals.items():
        with pytest.raises(Refusal) as err:
            verifier.verify(CONSENT_TOKEN, **kwargs)  # type: ignore[arg-type]
        assert (err.value.code, err.value.where, err.value.detail) == ("CONSENT_INVALID", "consentToken", reason)
    guard = InMemoryJtiGuard()
    guard.use(claims["jti"], claims["exp"], NOW)
    with pytest.raises(Refusal, match="CONSENT_INVALID"):
        guard.use(claims["jti"], claims["exp"], NOW + 1)


def test_consent_refuses_long_lifetime_unknown_kid_and_other_algs() -> None:
    key = SigningKey.of("c1", generate_p256())
    verifier = ConsentVerifier({"c1": key.verification_key()})
    licence_like = Licence(
        "x",
        "n",
        "T",
        "1",
        "h",
        "USCC",
        "H",
        "i",
        "I",
        "340100",
        datetime(2024, 1, 1).date(),
        datetime(2024, 1, 1).date(),
        "VALID",
        (),
    )
    ok = issue_consent(key, sub="H", aud="ningbo", scope="A T", purpose="p", now=NOW, issuer=CONSENT_ISS)
    assert verifier.verify(ok, requester="ningbo", licence=licence_like, now=NOW)["scope"] == "A T"
    long = issue_consent(key, sub="H", aud="ningbo", scope="T", purpose="p", now=NOW, lifetime=601, issuer=CONSENT_ISS)
    stranger = issue_consent(
        SigningKey.of("c2", generate_p256()), sub="H", aud="ningbo", scope="T", purpose="p", now=NOW, issuer=CONSENT_ISS
    )
    header = b64url_encode(b'{"alg":"HS256","kid":"c1","typ":"JWT"}')
    payload = ok.split(".")[1]
    pem = key.verification_key().public.public_bytes(encoding=_pem(), format=_spki())
    forged = f"{header}.{payload}." + b64url_encode(hmac.new(pem, f"{header}.{payload}".encode(), "sha256").digest())
    for token in (long, stranger, forged, "not-a-token"):
        with pytest.raises(Refusal, match="CONSENT_INVALID"):
            verifier.verify(token, requester="ningbo", licence=licence_like, now=NOW)


def _pem() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def _spki() -> Any:
    from cryptography.hazmat.primitives.serialization import PublicFormat

    return PublicFormat.SubjectPublicKeyInfo


# === submissions through the loopback simulator ====================================================================
@pytest.mark.parametrize(
    ("kind", "name"), [("case", "SC001.json"), ("status", "SS002.json"), ("evaluation", "SE004.json")]
)
async def test_submission_accepted_signed_recorded_and_repeated(
    rig: Rig, registry: Any, samples_dir: Path, kind: str, name: str
) -> None:
    record = registry.adapter("anhui").decode(kind, sample(samples_dir, kind, name))
    first = await rig.client.submit(kind, record, "m-1")
    assert isinstance(first, Accepted) and first.receipt_no.startswith("HEFEI")
    [entry] = rig.sim.book.snapshot(kind)
    assert entry["record"] == jsonable(record)
    assert entry["caller"] == rig.gw.paas_id
    rig.clock.now += 5
    again = await rig.client.submit(kind, record, "m-1")
    assert again.receipt_no == first.receipt_no
    assert len(rig.sim.book.snapshot(kind)) == 1 and rig.sim.book.calls == 2
    # the receipt is the §4 envelope, signed by the platform's key over its exact bytes
    resp, answer = await rig.raw(rig.request(rig.transport.sent[-1].body, path=w.PATHS[kind]))
    assert resp.status == 200
    assert answer["code"] == "200" and answer["data"]["receiptNo"] == first.receipt_no
    assert answer["data"]["projid"] == record.case_no


async def test_business_refusals_reach_the_client_with_code_and_field(
    rig: Rig, registry: Any, samples_dir: Path
) -> None:
    adapter = registry.adapter("anhui")
    status: StatusEvent = adapter.decode("status", sample(samples_dir, "status", "SS002.json"))
    await rig.client.submit("status", status, "s-4")
    with pytest.raises(Refusal) as err:
        await rig.client.submit("status", dataclasses.replace(status, seq=status.seq - 1), "s-3")
    assert err.value.code == "RULE_VIOLATION"
    tree = json.loads(sample(samples_dir, "case", "SC001.json"))
    tree["CONTACTMAN_CARDNUMBER"] = tree["CONTACTMAN_CARDNUMBER"][:-1] + "0"
    resp, answer = await rig.raw(rig.request(json.dumps(tree, ensure_ascii=False).encode()))
    assert resp.status == 200
    assert answer["code"] == "400"
    assert answer["data"] == {"errorCode": "ID_CHECKSUM", "field": "CONTACTMAN_CARDNUMBER"}
    assert "340121" not in answer["msg"]
    resp, answer = await rig.raw(rig.request(b'{"PROJID":'))
    assert (resp.status, answer["data"]["errorCode"]) == (200, "MALFORMED")


# === security: each refusal in its documented code, status and signed form =========================================
async def test_security_refusals(rig: Rig, samples_dir: Path) -> None:
    body = sample(samples_dir, "case", "SC001.json")
    other_key = SigningKey(rig.gw.jws_key.kid, "ES256", generate_p256())
    stranger = SigningKey.of("nobody-jws-01", generate_p256())
    protected = rig.gw.jws_key.kid

    def forged(header: dict[str, Any], sig: bytes | None = None, over: bytes | None = None) -> str:
        h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        if sig is None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

            r, s = decode_dss_signature(
                rig.gw.jws_key.private.sign(h.encode() + b"." + (over or body), ec.ECDSA(hashes.SHA256()))
            )
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{h}..{b64url_encode(sig)}"

    public_pem = rig.gw.jws_key.verification_key().public.public_bytes(encoding=_pem(), format=_spki())
    hs_header = b64url_encode(json.dumps({"alg": "HS256", "kid": protected, "b64": False, "crit": ["b64"]}).encode())
    hs256 = f"{hs_header}..{b64url_encode(hmac.new(public_pem, hs_header.encode() + b'.' + body, 'sha256').digest())}"
    pretty = json.dumps(json.loads(body), ensure_ascii=False, indent=1).encode()
    stale = rig.request(body, now=NOW - 301)
    no_tif = rig.request(body)
    no_tif = dataclasses.replace(no_tif, headers={k: v for k, v in no_tif.headers.items() if not k.startswith("x-tif")})
    unknown_paas = rig.request(body)
    unknown_paas = dataclasses.replace(unknown_paas, headers={**unknown_paas.headers, w.H_PAASID: "someone-else"})
    no_jws = rig.request(body)
    no_jws = dataclasses.replace(no_jws, headers={k: v for k, v in no_jws.headers.items() if k != w.H_JWS})
    tampered = rig.request(body)
    tampered = dataclasses.replace(tampered, body=body.replace("申请表".encode(), "申请书".encode()))
    cases: dict[str, tuple[HttpRequest, str]] = {
        "missing TIF": (no_tif, "AUTH_FAILED"),
        "wrong paas token": (rig.request(body, token=Secret("not-the-token")), "AUTH_FAILED"),
        "unknown paas id": (unknown_paas, "AUTH_FAILED"),
        "missing JWS": (no_jws, "SIGNATURE_INVALID"),
        "wrong JWS key": (rig.request(body, key=other_key), "SIGNATURE_INVALID"),
        "unknown kid": (rig.request(body, key=stranger), "SIGNATURE_INVALID"),
        "tampered body": (tampered, "SIGNATURE_INVALID"),
        "signature over other bytes": (rig.request(pretty, jws=w.sign_body(body, rig.gw.jws_key)), "SIGNATURE_INVALID"),
        "alg none": (
            rig.request(body, jws=forged({"alg": "none", "kid": protected, "b64": False, "crit": ["b64"]}, b"")),
            "SIGNATURE_INVALID",
        ),
        "HS256 keyed with the public key": (rig.request(body, jws=hs256), "SIGNATURE_INVALID"),
        "alg confusion EdDSA": (
            rig.request(body, jws=forged({"alg": "EdDSA", "kid": protected, "b64": False, "crit": ["b64"]})),
            "SIGNATURE_INVALID",
        ),
        "b64 true": (
            rig.request(body, jws=forged({"alg": "ES256", "kid": protected, "b64": True, "crit": ["b64"]})),
            "SIGNATURE_INVALID",
        ),
        "unknown crit": (
            rig.request(
                body, jws=forged({"alg": "ES256", "kid": protected, "b64": False, "crit": ["b64", "exp"], "exp": 1})
            ),
            "SIGNATURE_INVALID",
        ),
        "timestamp 301 s old": (stale, "REPLAYED"),
        "timestamp 301 s ahead": (rig.request(body, now=NOW + 301), "REPLAYED"),
        "bad TIF and bad JWS: TIF first": (rig.request(body, token=Secret("x"), jws="a..b"), "AUTH_FAILED"),
    }
    for name, (req, code) in cases.items():
        resp, answer = await rig.raw(req)
        assert (resp.status, answer["code"], answer["data"]["errorCode"]) == (401, "401", code), name
    assert rig.sim.book.calls == 0
    # the control: the same forging helper with the documented header is accepted
    ok = rig.request(body, jws=forged({"alg": "ES256", "kid": protected, "b64": False, "crit": ["b64"]}))
    assert (await rig.raw(ok))[0].status == 200


async def test_replay_window_edges_and_nonce(rig: Rig, samples_dir: Path) -> None:
    body = sample(samples_dir, "status", "SS001.json")
    edge = rig.request(body, path=w.PATHS["status"], now=NOW - 300)
    resp, answer = await rig.raw(edge)
    assert (resp.status, answer["code"]) == (200, "200")  # exactly 300 s is inside the window (§2)
    resp, answer = await rig.raw(edge)
    assert (resp.status, answer["data"]["errorCode"]) == (401, "REPLAYED")
    bad_nonce = rig.request(body, path=w.PATHS["status"])
    headers = {**bad_nonce.headers, w.H_NONCE: "SHORT"}
    resp, answer = await rig.raw(dataclasses.replace(bad_nonce, headers=headers))
    assert answer["data"]["errorCode"] == "AUTH_FAILED"


# aiohttp warns for any bytes body over 1 MiB; gateway.transport passes bytes (reported to the lead)
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
async def test_body_too_large_comes_first(rig: Rig) -> None:
    body = b'{"PROJID":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    req = rig.request(body, token=Secret("wrong"))
    resp, answer = await rig.raw(req)
    assert (resp.status, answer["code"], answer["data"]["errorCode"]) == (413, "413", "BODY_TOO_LARGE")
    with pytest.raises(Refusal) as err:
        await rig.client._call(req)
    assert err.value.code == "BODY_TOO_LARGE"


async def test_client_refuses_an_answer_whose_jws_fails(rig: Rig, registry: Any, samples_dir: Path) -> None:
    record = registry.adapter("anhui").decode("case", sample(samples_dir, "case", "SC001.json"))
    impostor = SigningKey(rig.pf.jws_key.kid, "ES256", generate_p256()).verification_key()
    client = rig.client_with(dataclasses.replace(rig.gw, peer_jws_keys={impostor.kid: impostor}))
    with pytest.raises(ServerError, match="unverified answer"):
        await client.submit("case", record, "m-1")
    # the platform did accept it: retrying with a client that verifies gets the first receipt
    assert len(rig.sim.book.snapshot("case")) == 1
    assert (await rig.client.submit("case", record, "m-1")).receipt_no == rig.sim.book.snapshot("case")[0]["receipt"]


async def test_client_signs_every_call_afresh_and_maps_auth_refusals(
    rig: Rig, registry: Any, samples_dir: Path
) -> None:
    record = registry.adapter("anhui").decode("case", sample(samples_dir, "case", "SC001.json"))
    client = rig.client_with(dataclasses.replace(rig.gw, paas_token=Secret("revoked")))
    with pytest.raises(Refusal) as err:
        await client.submit("case", record, "m-1")
    assert (err.value.code, err.value.where) == ("AUTH_FAILED", None)


# === licences and the catalogue =====================================================================================
async def test_licence_query_verified_consent_single_use(rig: Rig) -> None:
    library = anhui_extras.simulator_library(rig.spec, rig.pf)
    identifier = library.identifiers()[3]
    licence, _ = library.get(identifier)
    key = anhui.dev_consent_key(rig.folder, "hefei")

    def consent(**extra: Any) -> str:
        claims = {
            "sub": licence.holder_code,
            "aud": "ningbo",
            "scope": licence.type_code,
            "purpose": "3302002506000000417",
            "now": rig.clock.now,
            "issuer": CONSENT_ISS,
        } | extra
        return issue_consent(key, **claims)

    token = consent()
    answer = await rig.client.query_licence(LicenceQuery(identifier, "核验", token), "q-1")
    assert isinstance(answer, LicenceAnswer)
    assert answer.licence == licence and answer.signature is not None
    assert answer.signature.cert_sn == rig.pf.licence_cert_sn
    for query, code, where in (
        (LicenceQuery(identifier, "核验", token), "CONSENT_INVALID", "consentToken"),  # jti used once
        (LicenceQuery(identifier, "核验", consent(scope="11100000MB0A3K7N3P001")), "CONSENT_INVALID", "consentToken"),
        (LicenceQuery(identifier, "核验", consent(sub="91340100MB0000000X")), "CONSENT_INVALID", "consentToken"),
    ):
        with pytest.raises(Refusal) as err:
            await rig.client.query_licence(query, "q-2")
        assert (err.value.code, err.value.where) == (code, where)
    prefix, type_code, issuer, _serial, version, _check = identifier.rsplit(".", 5)
    serial = "NOTHELD1"
    missing = f"{prefix}.{type_code}.{issuer}.{serial}.{version}.{mod37_36(type_code + issuer + serial + version)}"
    assert check_licence_id(missing) is None and missing not in library.identifiers()
    with pytest.raises(Refusal) as err:
        await rig.client.query_licence(LicenceQuery(missing, "核验", consent()), "q-3")
    assert (err.value.code, err.value.where) == ("UNKNOWN_CODE", "certificateIdentifier")


async def test_licence_whose_sm2_signature_fails_is_refused(rig: Rig) -> None:
    library = anhui_extras.simulator_library(rig.spec, rig.pf)
    identifier = library.identifiers()[0]
    licence, _ = library.get(identifier)
    key = anhui.dev_consent_key(rig.folder, "hefei")
    other = generate_sm2()
    client = rig.client_with(dataclasses.replace(rig.gw, licence_certs={rig.pf.licence_cert_sn: other.public_key()}))
    for n, c in enumerate((client, rig.client_with(dataclasses.replace(rig.gw, licence_certs={})))):
        token = issue_consent(
            key,
            sub=licence.holder_code,
            aud="g60",
            scope=licence.type_code,
            purpose="p",
            now=rig.clock.now,
            jti=f"j-{n}",
            issuer=CONSENT_ISS,
        )
        with pytest.raises(Refusal) as err:
            await c.query_licence(LicenceQuery(identifier, "核验", token), "q")
        assert (err.value.code, err.value.where) == ("SIGNATURE_INVALID", "data.digitalSign")


async def test_worked_licence_signature_through_endpoint_and_client(
    tmp_path: Path, registry: Any, samples_dir: Path
) -> None:
    """§9's licence and signature, served by an anhui Endpoint and verified by the Client end to end."""
    hefei = registry.platforms["hefei"]
    gw_side, pf_side = anhui.generate_link(tmp_path, hefei)
    adapter = registry.adapter("anhui")
    licence = adapter.decode("licence", sample(samples_dir, "licence", "SL001.json"))

    async def handler(call: InboundCall) -> LicenceAnswer:
        assert call.record.identifier == licence.identifier
        return LicenceAnswer(licence, LicenceSignature(SM2_SIGNATURE, "0a1b2c"))

    clock = Clock()
    from aiohttp import web

    endpoint = anhui.Endpoint(
        WireContext(hefei, anhui.load_link(pf_side, tmp_path), adapter, clock), InMemoryReplayGuard(), handler
    )
    app = web.Application()
    app.add_routes(endpoint_routes(endpoint))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    transport = AiohttpTransport()
    try:
        gw = dataclasses.replace(
            anhui.load_link(gw_side, tmp_path), licence_certs={"0a1b2c": sm2_public_from_hex(SM2_PUBLIC_HEX)}
        )
        client = anhui.Client(WireContext(hefei, gw, adapter, clock, str(server.make_url(""))), transport)
        answer = await client.query_licence(LicenceQuery(licence.identifier, "核验", CONSENT_TOKEN), "q")
        assert answer.licence == licence
        assert answer.signature == LicenceSignature(SM2_SIGNATURE, "0a1b2c")
    finally:
        await transport.close()
        await server.close()


async def test_catalogue_pages(rig: Rig) -> None:
    reference = Catalogue(seed=0, size=2500)
    page = await rig.client.fetch_catalogue(2, 1000, None)
    assert (page.page_no, page.page_size, page.total) == (2, 1000, 2500)
    assert page.items == reference.page(2, 1000).items
    since = reference.page(1, 1000).items[700].updated_at
    page = await rig.client.fetch_catalogue(1, 1000, since)
    assert page.total == 1800 and page.items[0].updated_at >= since
    assert page.items == reference.page(1, 1000, since).items
    last = await rig.client.fetch_catalogue(3, 1000, None)
    assert len(last.items) == 500
    with pytest.raises(Refusal) as err:
        await rig.client.fetch_catalogue(1, 1001, None)
    assert (err.value.code, err.value.where) == ("BAD_FORMAT", "pageSize")
    resp, answer = await rig.raw(rig.request(b"", method="GET", path=w.CATALOGUE_PATH, query="pageNo=1&pageSize=0"))
    assert (resp.status, answer["code"], answer["data"]) == (
        200,
        "400",
        {"errorCode": "BAD_FORMAT", "field": "pageSize"},
    )
    resp, answer = await rig.raw(
        rig.request(b"x", method="GET", path=w.CATALOGUE_PATH, query="pageNo=1", jws=w.sign_body(b"", rig.gw.jws_key))
    )
    assert (resp.status, answer["data"]["errorCode"]) == (401, "SIGNATURE_INVALID")


async def test_catalogue_mutations_are_found_incrementally(tmp_path: Path, registry: Any) -> None:
    hefei = registry.platforms["hefei"]
    gw_side, pf_side = anhui.generate_link(tmp_path, hefei)
    catalogue = Catalogue(seed=3, size=1200)
    clock = Clock()
    spec = SimulatorSpec(hefei, pf_side, tmp_path, options={"catalogue": catalogue})
    app, _, _ = build_simulator(spec, registry, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    transport = AiohttpTransport()
    try:
        ctx = WireContext(
            hefei, anhui.load_link(gw_side, tmp_path), registry.adapter("anhui"), clock, str(server.make_url(""))
        )
        client = anhui.Client(ctx, transport)
        first = [i for n in (1, 2) for i in (await client.fetch_catalogue(n, 1000, None)).items]
        high_water = max(i.updated_at for i in first)
        touched = catalogue.mutate(0.05, seed=1, now=NOW + 86400 * 600)
        later = await client.fetch_catalogue(1, 1000, high_water + timedelta(seconds=1))
        assert later.total == len(touched) == 60
        assert {i.operation for i in later.items} <= {"UPDATE", "DELETE"}
        assert sorted((i.updated_at, i.item_code) for i in later.items) == [
            (i.updated_at, i.item_code) for i in later.items
        ]
    finally:
        await transport.close()
        await server.close()


# === faults =========================================================================================================
async def test_faults_map_to_transient_errors_and_a_retry_is_re_signed(
    rig: Rig, registry: Any, samples_dir: Path
) -> None:
    record = registry.adapter("anhui").decode("case", sample(samples_dir, "case", "SC002.json"))
    rig.plan.update({"error_rate": 1})
    with pytest.raises(ServerError):
        await rig.client.submit("case", record, "m-9")
    rig.plan.update({"error_rate": 0, "throttle_rate": 1, "retry_after": 7})
    with pytest.raises(Throttled) as throttled:
        await rig.client.submit("case", record, "m-9")
    assert throttled.value.retry_after == 7
    rig.plan.update({"throttle_rate": 0, "drop_rate": 1})
    with pytest.raises(ConnectionFailed):
        await rig.client.submit("case", record, "m-9")
    rig.plan.update({"drop_rate": 0})
    rig.clock.now += 2
    accepted = await rig.client.submit("case", record, "m-9")
    assert accepted.receipt_no and len(rig.sim.book.snapshot("case")) == 1
    sent = rig.transport.sent
    assert len(sent) == 4
    assert len({r.header(w.H_NONCE) for r in sent}) == 4
    assert len({r.header(w.H_SIGNATURE) for r in sent}) == 4
    assert sent[-1].header(w.H_TIMESTAMP) != sent[0].header(w.H_TIMESTAMP)
    assert len({r.body for r in sent}) == 1  # same record, same bytes: only the signatures change


# === credentials ====================================================================================================
def test_generate_and_load_link(tmp_path: Path, registry: Any) -> None:
    gw_side, pf_side = anhui.generate_link(tmp_path, registry.platforms["huainan"])
    gw, pf = anhui.load_link(gw_side, tmp_path), anhui.load_link(pf_side, tmp_path)
    assert gw.paas_id in pf.peer_paas and pf.peer_paas[gw.paas_id] == gw.paas_token
    assert pf.paas_id in gw.peer_paas and gw.peer_paas[pf.paas_id] == pf.paas_token
    assert set(pf.peer_jws_keys) == {gw.jws_key.kid} and set(gw.peer_jws_keys) == {pf.jws_key.kid}
    assert pf.licence_key is not None and pf.licence_cert_sn in gw.licence_certs
    for path in (tmp_path / "huainan").iterdir():
        private = path.name.endswith(".paas-token") or (path.suffix == ".pem" and not path.name.endswith(".pub.pem"))
        assert (stat.S_IMODE(path.stat().st_mode) == 0o600) is private, path.name
    text = repr(gw)
    assert gw.paas_token.reveal_str() not in text and "PRIVATE" not in text
    sig = sm2_sign_b64(pf.licence_key.private, b"x")
    sm2_verify_b64(gw.licence_certs[pf.licence_cert_sn], sig, b"x")
    for key, broken in (
        ("jws_key_file", {**gw_side, "jws_key_file": "huainan/nothing.pem"}),
        ("paas_id", {k: v for k, v in gw_side.items() if k != "paas_id"}),
        ("peer_jws_keys", {**gw_side, "peer_jws_keys": {}}),
        ("jws_key_file", {**gw_side, "jws_key_file": pf_side["licence_key_file"]}),
        ("licence_certs.x", {**gw_side, "licence_certs": {"x": gw_side["peer_jws_keys"][pf.jws_key.kid]}}),
    ):
        with pytest.raises(ConfigError) as err:
            anhui.load_link(broken, tmp_path)
        assert err.value.key == key


def test_answers_and_catalogue_query_are_pure() -> None:
    status, body = w.render_refusal(Refusal("REPLAYED", "x-tif-nonce", "nonce_seen"))
    assert status == 401 and json.loads(body)["data"] == {"errorCode": "REPLAYED"}
    status, body = w.render_refusal(Refusal("CONSENT_INVALID", "consentToken", "expired"))
    assert status == 200 and json.loads(body)["data"] == {"errorCode": "CONSENT_INVALID", "field": "consentToken"}
    assert w.read_catalogue_query({"pageNo": "2", "pageSize": "10", "updatedSince": "2025-05-01 00:00:00"}) == (
        2,
        10,
        datetime(2025, 5, 1),
    )
    assert (
        w.catalogue_query(1, 1000, datetime(2025, 5, 1))
        == "pageNo=1&pageSize=1000&updatedSince=2025-05-01+00%3A00%3A00"
    )
    for query, where in (
        ({"pageSize": "1001"}, "pageSize"),
        ({"pageNo": "0"}, "pageNo"),
        ({"updatedSince": "2025-5-1 0:0:0"}, "updatedSince"),
        ({"pageSize": "１"}, "pageSize"),
    ):
        with pytest.raises(Refusal) as err:
            w.read_catalogue_query(query)
        assert (err.value.code, err.value.where) == ("BAD_FORMAT", where)
    sign = w.digital_sign_json(LicenceSignature("v", "sn"))
    assert w.read_digital_sign({"digitalSign": sign}) == LicenceSignature("v", "sn")
    for bad in ({}, {"digitalSign": {**sign, "alg": "RSA"}}, {"digitalSign": {**sign, "value": ""}}):
        with pytest.raises(Refusal, match="SIGNATURE_INVALID"):
            w.read_digital_sign(bad)


def test_catalogue_order_validity_and_deletions_keep_last_content() -> None:
    from gateway.model.identifiers import check_uscc

    catalogue = Catalogue(seed=5, size=300, regions=("340100", "340400"))
    base = list(catalogue.page(1, 300).items)
    assert [(i.updated_at, i.item_code) for i in base] == sorted((i.updated_at, i.item_code) for i in base)
    assert len({(i.item_code, i.region) for i in base}) == 300
    assert all(len(i.item_code) == 12 and i.item_code.isdigit() and 1 <= i.level <= 6 for i in base)
    assert all(check_uscc(i.dept_code) is None and i.region in ("340100", "340400") for i in base)
    assert all(0 <= len(i.materials) <= 5 for i in base)
    assert Catalogue(seed=5, size=300, regions=("340100", "340400")).page(1, 300).items == tuple(base)
    catalogue.mutate(1.0, seed=1, now=NOW + 10**8)
    updated = {i.item_code: i for i in catalogue.page(1, 300).items}
    catalogue.mutate(1.0, seed=2, now=NOW + 10**8 + 60)
    after = catalogue.page(1, 300, datetime.fromtimestamp(NOW + 10**8 + 60, BEIJING))
    assert after.total == 300
    deleted = [i for i in after.items if i.operation == "DELETE" and updated[i.item_code].operation == "UPDATE"]
    assert deleted, "some updated items are deleted by the second round"
    for item in deleted:
        before = updated[item.item_code]
        assert dataclasses.replace(item, operation="UPDATE", updated_at=before.updated_at) == before


def test_jti_guard_forgets_only_expired_tokens() -> None:
    guard = InMemoryJtiGuard()
    guard.use("a", NOW + 600, NOW)
    guard.use("b", NOW + 10, NOW)
    with pytest.raises(Refusal, match="CONSENT_INVALID"):
        guard.use("a", NOW + 600, NOW + 300)
    guard.use("c", NOW + 1300, NOW + 700)  # "a" and "b" have expired by now
    assert len(guard) == 1


@pytest.mark.parametrize("name", ["pageNo", "pageSize"])
@pytest.mark.parametrize("digits", [11, 4301, 50_000])
def test_catalogue_page_number_of_thousands_of_digits_is_bad_format(name: str, digits: int) -> None:
    """Found by the edge fuzz's reasoning: ``int()`` on 4301+ digits raises ValueError (a fault answer); BAD_FORMAT."""
    with pytest.raises(Refusal) as err:
        w.read_catalogue_query({name: "1" * digits})
    assert (err.value.code, err.value.where) == ("BAD_FORMAT", name)


@pytest.mark.parametrize("entry", [5, "x", None, ["TASK_CODE"]])
async def test_catalogue_page_with_a_non_object_entry_is_a_refusal_for_the_sync(rig: Rig, entry: Any) -> None:
    """Issue 11 item 7, through the client the catalogue sync uses: a signed page whose ``data.list`` holds a
    non-object is a Refusal at that entry, not an AttributeError."""
    item = Catalogue(seed=0, size=1).page(1, 10).items[0]
    tree = rig.client.ctx.adapter.mapping("item").encode(item)
    body = w.page_body(1, 10, 2, [tree, entry])

    async def platform(request: HttpRequest) -> HttpResponse:
        headers = {w.H_JWS.lower(): w.sign_body(body, rig.pf.jws_key), "content-type": "application/json"}
        return HttpResponse(200, headers, body)

    client = anhui.Client(rig.client.ctx, FakeTransport(platform))
    with pytest.raises(Refusal) as err:
        await client.fetch_catalogue(1, 10, None)
    assert (err.value.code, err.value.where) == ("MALFORMED", "data.list[1]")
