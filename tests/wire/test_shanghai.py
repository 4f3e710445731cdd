"""The shanghai wire scheme (shanghai.md §1-§4): the worked example, both roles over real loopback servers.

The simulator of songjiang is built with ``build_simulator`` and served on 127.0.0.1 port 0; the gateway side calls
it with ``Client`` over a real ``AiohttpTransport``. Raw requests (hand-signed or tampered) go through the same
transport. A small "rogue platform" (a real aiohttp server) answers crafted replies to test the client's checks.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

from adapters.base import Envelope
from adapters.shanghai.codec import (
    SOAP_ACTIONS,
    SoapFault,
    auth_header,
    read_envelope,
    read_reply,
    render_fault,
    render_submit_case_response,
)
from adapters.shanghai.roles import Client, Link, generate_link, load_link
from adapters.shanghai.scheme import (
    SERVICE_PATH,
    canonical_operation,
    check_window,
    compute_sign,
    insert_digital_sign,
    read_digital_sign,
    record_type_for,
    sign_message,
    string_to_sign,
    verify_auth,
    verify_licence_signature,
)
from adapters.wire import Exchange, HttpRequest, HttpResponse
from gateway.consent import issue_consent
from gateway.delivery.outcomes import ConnectionFailed, ServerError, Throttled
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature
from gateway.model.records import Case, LicenceQuery, StatusEvent, to_ref
from gateway.model.timefmt import BEIJING
from gateway.simulate.app import SimulatedPlatform, SimulatorSpec, build_simulator
from gateway.simulate.faults import FaultPlan
from gateway.simulate.licences import LicenceLibrary
from gateway.transport import AiohttpTransport
from gateway.wire.base import WireContext
from signing.devpki import generate_p256
from signing.keys import SigningKey, VerificationKey, sm2_public_from_hex
from signing.secret import Secret

CONSENT_ISS = "https://akm.ahzwfw.gov.cn"  # anhui.md §6.6: the consent issuer of these tests

TEST_APP_ID = "SJ-TEST-0001"  # shanghai.md §2, TEST ONLY
TEST_SECRET = Secret("test-only-songjiang-secret-0001")
T0 = 1_750_000_000.0
ACTION = {"case": SOAP_ACTIONS["case"], "status": SOAP_ACTIONS["status"]}
NONCE = "0123456789abcdef0123456789abcdef"


def _sample(samples_dir: Path, rel: str) -> bytes:
    return (samples_dir / "shanghai" / rel).read_bytes()


def _unsigned(body: bytes) -> bytes:
    return re.sub(rb"  <soap:Header>.*?</soap:Header>\n", b"", body, flags=re.DOTALL)


# --- the document's worked example and the scheme's composition (§2) ------------------------------------------------
def test_worked_example_recomputes(samples_dir: Path) -> None:
    message = read_envelope(_sample(samples_dir, "status/SS001.xml"))
    assert len(canonical_operation(message.operation)) == 359
    to_sign = string_to_sign(TEST_APP_ID, "1749826638000", "76467a3cd07c13c0426702db40166b97", message.operation)
    assert to_sign == (
        b"SJ-TEST-0001\n1749826638000\n76467a3cd07c13c0426702db40166b97\n"
        b"ae1da9172077af5ec68ff68537db2dd82ea47c3292b73509063b884731558115"
    )
    nonce = "76467a3cd07c13c0426702db40166b97"
    sign = compute_sign(TEST_SECRET, TEST_APP_ID, "1749826638000", nonce, message.operation)
    assert sign == "300138e471698cbb9bb7dda758e53c61577b285041a8fe56a54665bab68943a6"


@pytest.mark.parametrize(
    "rel",
    [
        "case/SC001.xml",
        "case/SC002.xml",
        "case/SC003.xml",
        "status/SS001.xml",
        "status/SS004.xml",
        "licence/SL001.xml",
        "licence/SL002.xml",
    ],
)
def test_signing_the_unsigned_sample_gives_the_sample_bytes(samples_dir: Path, rel: str) -> None:
    signed = _sample(samples_dir, rel)
    auth = auth_header(read_envelope(signed).envelope)
    assert auth is not None
    verified = verify_auth(read_envelope(signed), {TEST_APP_ID: TEST_SECRET}.get)
    assert (verified.app_id, str(verified.timestamp_ms), verified.nonce) == (
        auth["appId"],
        auth["timestamp"],
        auth["nonce"],
    )
    again = sign_message(_unsigned(signed), auth["appId"], TEST_SECRET, int(auth["timestamp"]), auth["nonce"])
    assert again == signed  # inserting the header leaves every other byte as it was


def test_own_output_with_awkward_whitespace_verifies_after_the_wire() -> None:
    body = render_fault(SoapFault("tab\there\r\nand a newline", "BAD_FORMAT", "Case/@remark\t\n"))
    signed = sign_message(body, "A", Secret("s"), 1, NONCE)
    assert verify_auth(read_envelope(signed), {"A": Secret("s")}.get).nonce == NONCE
    reparsed = etree.tostring(etree.fromstring(signed))  # what a peer that re-serialises would send
    assert verify_auth(read_envelope(reparsed), {"A": Secret("s")}.get).app_id == "A"


def test_licence_signature_worked_example_through_digital_sign(samples_dir: Path, registry: Any) -> None:
    """anhui.md §9: the Hefei issuer's signature of SL001 verifies when the licence travels in shanghai (§5.3)."""
    adapter = registry.adapter("shanghai")
    value = "MEQCIEz2VE7PDkKYrImrMuZgJ0eeoREBlcoY57fjwlkQeaV+AiA4i9tuzBqFM55OXTRqwV/pCpP0TKnIGpsT14iND1rA9g=="
    public = sm2_public_from_hex(
        "0436d2649b0e40d13df5c87947e5b8aae807d307c24ae9bf965c53c8b0320226a0"
        "f8ce9e76c0d5ebac8fb0d8c23a381d5fee4298da23cedc15df00a6902c0abb13"
    )
    keys = {"HF01": VerificationKey("HF01", "SM2-SM3", public)}
    body = insert_digital_sign(_unsigned(_sample(samples_dir, "licence/SL001.xml")), LicenceSignature(value, "HF01"))
    signed = sign_message(body, TEST_APP_ID, TEST_SECRET, 1749690967000, NONCE)
    message = read_envelope(signed)
    verify_auth(message, {TEST_APP_ID: TEST_SECRET}.get)
    signature = read_digital_sign(message)
    assert signature == LicenceSignature(value, "HF01", "SM2-SM3", "1234567812345678")
    licence = adapter.decode("licence", signed)
    verify_licence_signature(licence, signature, keys)
    refusals = [
        (dataclasses.replace(licence, number="00202416191580"), signature, keys),
        (licence, dataclasses.replace(signature, alg="RS256"), keys),
        (licence, dataclasses.replace(signature, alg="HS256"), {"HF01": keys["HF01"]}),
        (licence, dataclasses.replace(signature, cert_sn="OTHER"), keys),
        (licence, dataclasses.replace(signature, user_id="1"), keys),
        (licence, None, keys),
    ]
    for lic, sig, ring in refusals:
        with pytest.raises(Refusal) as info:
            verify_licence_signature(lic, sig, ring)
        assert (info.value.code, info.value.where) == (C.SIGNATURE_INVALID, "Licence/DigitalSign")


def test_window_is_300000_ms_either_side() -> None:
    check_window(1_000_000, 1_300_000)
    check_window(1_300_000, 1_000_000)
    for ts, now in ((1_000_000, 1_300_001), (1_300_001, 1_000_000)):
        with pytest.raises(Refusal) as info:
            check_window(ts, now)
        assert info.value.code == C.REPLAYED


def test_soap_action_must_name_the_body_operation(samples_dir: Path) -> None:
    message = read_envelope(_sample(samples_dir, "case/SC001.xml"))
    assert record_type_for(' "urn:sh:ywtb:exchange:2.0#submitCase" ', message) == "case"
    for action in (None, "", SOAP_ACTIONS["status"], "urn:sh:ywtb:exchange:2.0#submitCase"):
        with pytest.raises(Refusal) as info:
            record_type_for(action, message)
        assert (info.value.code, info.value.where) == (C.MALFORMED, "SOAPAction")


# --- credentials ---------------------------------------------------------------------------------------------------
def test_generated_link_loads_and_keeps_the_secret_private(tmp_path: Path, registry: Any) -> None:
    gateway_side, platform_side = generate_link(tmp_path, registry.platforms["songjiang"])
    gw, pf = load_link(gateway_side, tmp_path), load_link(platform_side, tmp_path)
    assert gw.app_id == pf.app_id and gw.app_secret == pf.app_secret
    assert stat.S_IMODE((tmp_path / gateway_side["app_secret_file"]).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / platform_side["licence_signing_key_file"]).stat().st_mode) == 0o600
    assert gw.licence_signer is None and pf.licence_signer is not None
    assert set(gw.licence_keys) == {pf.licence_signer.kid}
    assert pf.app_secret.reveal_str() not in repr(gw) + repr(pf)
    for broken, key in (
        ({**gateway_side, "app_id": ""}, "app_id"),
        ({**gateway_side, "app_secret_file": "songjiang/nothing"}, "app_secret_file"),
        ({**gateway_side, "licence_issuer_keys": {"X": gateway_side["app_secret_file"]}}, "licence_issuer_keys.X"),
        ({**platform_side, "licence_cert_sn": None}, "licence_cert_sn"),
    ):
        with pytest.raises(ConfigError) as info:
            load_link(broken, tmp_path)
        assert info.value.key == key


# --- the simulator over loopback -------------------------------------------------------------------------------------
class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class RecordingTransport(AiohttpTransport):
    """The real transport, keeping what it sent (to compare the signatures of a retry)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[HttpRequest] = []

    async def send(
        self, request: HttpRequest, *, timeout: float = 30.0, exchange: Exchange | None = None
    ) -> HttpResponse:
        self.sent.append(request)
        return await super().send(request, timeout=timeout, exchange=exchange)


@dataclass
class Rig:
    url: str
    sim: SimulatedPlatform
    plan: FaultPlan
    clock: Clock
    gw: Link
    pf: Link
    gateway_side: dict[str, Any]
    platform_side: dict[str, Any]
    folder: Path
    transport: RecordingTransport
    registry: Any
    library: LicenceLibrary
    consent_key: SigningKey
    rogues: list[TestServer] = field(default_factory=list)

    @property
    def adapter(self) -> Any:
        return self.registry.adapter("shanghai")

    def client(self, link: Link | None = None, url: str | None = None) -> Client:
        ctx = WireContext(
            self.registry.platforms["songjiang"], link or self.gw, self.adapter, self.clock, url or self.url
        )
        return Client(ctx, self.transport)

    async def post(self, body: bytes, action: str | None = ACTION["case"]) -> HttpResponse:
        headers = {"content-type": "text/xml; charset=UTF-8"}
        if action is not None:
            headers["soapaction"] = action
        return await self.transport.send(HttpRequest("POST", self.url + SERVICE_PATH, headers, body))

    def signed(
        self,
        body: bytes,
        *,
        at: float | None = None,
        nonce: str = NONCE,
        secret: Secret | None = None,
        app_id: str | None = None,
    ) -> bytes:
        ts = round(1000 * (self.clock.t if at is None else at))
        return sign_message(body, app_id or self.gw.app_id, secret or self.gw.app_secret, ts, nonce)


@pytest.fixture
async def rig(registry: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    platform = registry.platforms["songjiang"]
    gateway_side, platform_side = generate_link(tmp_path, platform)
    pf = load_link(platform_side, tmp_path)
    assert pf.licence_signer is not None
    library = LicenceLibrary(pf.licence_signer, pf.licence_signer.kid, "310117", seed=3, size=6)
    consent_key = SigningKey.of("sj-consent-test", generate_p256())
    options = {"consent_keys": {consent_key.kid: consent_key.verification_key()}, "licence_library": library}
    clock, plan = Clock(T0), FaultPlan()
    spec = SimulatorSpec(platform, platform_side, tmp_path, options=options)
    app, sim, tls = build_simulator(spec, registry, clock=clock, plan=plan)
    assert tls is None  # the test endpoint is plain HTTP on loopback (config/gateway.toml)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    transport = RecordingTransport()
    try:
        rig = Rig(
            str(server.make_url("")).rstrip("/"),
            sim,
            plan,
            clock,
            load_link(gateway_side, tmp_path),
            pf,
            gateway_side,
            platform_side,
            tmp_path,
            transport,
            registry,
            library,
            consent_key,
        )
        yield rig
        for rogue in rig.rogues:
            await rogue.close()
    finally:
        await transport.close()
        await server.close()


def _case(rig: Rig, samples_dir: Path, rel: str = "case/SC002.xml") -> Case:
    record: Case = rig.adapter.decode("case", _sample(samples_dir, rel))
    return record


def _status(rig: Rig, samples_dir: Path, rel: str = "status/SS001.xml") -> StatusEvent:
    record: StatusEvent = rig.adapter.decode("status", _sample(samples_dir, rel))
    return record


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, datetime | date) else value


def _case_body(rig: Rig, case: Case) -> bytes:
    env = Envelope("m", datetime.fromtimestamp(rig.clock.t, BEIJING), "m")
    codes = rig.adapter.tables.crosswalk.columns["songjiang"]
    body: bytes = rig.adapter.encode("case", case, env, codes)
    return body


def _with_auth(signed: bytes, link: Link, *, nonce: str) -> bytes:
    """``signed`` with another nonce and a sign correctly computed over it (to reach the format checks)."""
    message = read_envelope(signed)
    auth = auth_header(message.envelope)
    assert auth is not None
    sign = compute_sign(link.app_secret, auth["appId"], auth["timestamp"], nonce, message.operation)
    return signed.replace(auth["nonce"].encode(), nonce.encode()).replace(auth["sign"].encode(), sign.encode())


def _fault(response: HttpResponse, operation: str = "submitCase") -> tuple[SoapFault, dict[str, str] | None]:
    assert response.status == 500
    assert response.header("content-type") == "text/xml; charset=UTF-8"
    reply = read_reply(response.body, operation)
    assert reply.fault is not None
    return reply.fault, auth_header(reply.message.envelope)


def _signed_fault(rig: Rig, response: HttpResponse) -> SoapFault:
    fault, auth = _fault(response)
    assert auth is not None and auth["appId"] == rig.gw.app_id
    verify_auth(read_envelope(response.body), rig.gw.secret_for)  # faults are signed like any answer (§2)
    return fault


async def test_case_accepted_read_back_and_repeated(rig: Rig, samples_dir: Path) -> None:
    case = _case(rig, samples_dir)
    client = rig.client()
    first = await client.submit("case", case, "msg-1")
    assert first.receipt_no.startswith("SONGJI")
    [entry] = rig.sim.book.snapshot("case")
    assert entry["record"] == _jsonable(to_ref(case)) and entry["caller"] == rig.gw.app_id
    again = await client.submit("case", case, "msg-1")
    assert again.receipt_no == first.receipt_no and len(rig.sim.book.snapshot("case")) == 1
    assert len({r.body for r in rig.transport.sent}) == 2  # a second call is signed afresh
    assert rig.transport.sent[0].header("soapaction") == '"urn:sh:ywtb:exchange:2.0#submitCase"'


async def test_status_accepted_and_a_lower_seq_refused(rig: Rig, samples_dir: Path) -> None:
    event = _status(rig, samples_dir)
    client = rig.client()
    assert (await client.submit("status", event, "s-1")).receipt_no == ""  # §1: reportStatusResponse is empty
    [entry] = rig.sim.book.snapshot("status")
    assert entry["record"] == _jsonable(to_ref(event))
    with pytest.raises(Refusal) as info:
        await client.submit("status", dataclasses.replace(event, seq=event.seq - 1), "s-0")
    assert info.value.code == "RULE_VIOLATION"


async def test_a_record_failing_decoding_is_refused_with_code_and_field(rig: Rig, samples_dir: Path) -> None:
    case = _case(rig, samples_dir)
    bad_id = case.agent.id_number[:-1] + ("0" if case.agent.id_number[-1] != "0" else "1")  # type: ignore[union-attr]
    bad = dataclasses.replace(case, agent=dataclasses.replace(case.agent, id_number=bad_id))
    with pytest.raises(Refusal) as info:
        await rig.client().submit("case", bad, "msg-bad")
    assert (info.value.code, info.value.where) == ("ID_CHECKSUM", "Case/Agent/@certNo")
    assert rig.sim.book.snapshot() == []


async def test_licence_query_answers_a_signed_licence(rig: Rig) -> None:
    identifier = rig.library.identifiers()[0]
    licence, _ = rig.library.get(identifier)
    token = issue_consent(
        rig.consent_key,
        sub=licence.holder_code,
        aud="hefei",
        scope=licence.type_code,
        purpose="3101172506000000001",
        now=rig.clock.t,
        issuer=CONSENT_ISS,
    )
    answer = await rig.client().query_licence(LicenceQuery(identifier, "核验", token), "q-1")
    assert answer.licence == licence
    assert answer.signature is not None and answer.signature.cert_sn == rig.pf.licence_signer.kid  # type: ignore
    with pytest.raises(Refusal) as info:  # the jti is single use
        await rig.client().query_licence(LicenceQuery(identifier, "核验", token), "q-2")
    assert (info.value.code, info.value.where) == ("CONSENT_INVALID", "queryLicence/ConsentToken")
    other = issue_consent(
        rig.consent_key,
        sub=licence.holder_code,
        aud="hefei",
        scope="11100000MB0A3K7N3X001",
        purpose="x",
        now=rig.clock.t,
        issuer=CONSENT_ISS,
    )
    with pytest.raises(Refusal) as info:
        await rig.client().query_licence(LicenceQuery(identifier, "核验", other), "q-3")
    assert info.value.code == "CONSENT_INVALID"
    fresh = issue_consent(
        rig.consent_key,
        sub=licence.holder_code,
        aud="hefei",
        scope=licence.type_code,
        purpose="y",
        now=rig.clock.t,
        issuer=CONSENT_ISS,
    )
    untrusting = dataclasses.replace(rig.gw, licence_keys={})  # no issuer key: the licence cannot be trusted
    with pytest.raises(Refusal) as info:
        await rig.client(untrusting).query_licence(LicenceQuery(identifier, "核验", fresh), "q-4")
    assert (info.value.code, info.value.where) == ("SIGNATURE_INVALID", "Licence/DigitalSign")


async def test_wsdl(rig: Rig) -> None:
    response = await rig.transport.send(HttpRequest("GET", rig.url + SERVICE_PATH + "?wsdl"))
    assert response.status == 200
    root = etree.fromstring(response.body)
    ops = {e.get("name") for e in root.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert ops == {"submitCase", "reportStatus", "queryLicence"}
    plain = await rig.transport.send(HttpRequest("GET", rig.url + SERVICE_PATH))
    assert plain.status == 405


# --- security: each answered with the documented code and form --------------------------------------------------
async def test_missing_auth_header_and_unknown_app_id_get_unsigned_auth_failed(rig: Rig, samples_dir: Path) -> None:
    body = _case_body(rig, _case(rig, samples_dir))
    for request in (body, rig.signed(body, app_id="SJ-NOBODY", secret=Secret("x"))):
        fault, auth = _fault(await rig.post(request))
        assert (fault.code, fault.server, auth) == ("AUTH_FAILED", False, None)
    stranger = dataclasses.replace(rig.gw, app_id="SJ-NOBODY")
    with pytest.raises(Refusal) as info:  # the client takes the documented unsigned fault as final
        await rig.client(stranger).submit("case", _case(rig, samples_dir), "m")
    assert info.value.code == "AUTH_FAILED"
    assert rig.sim.book.snapshot() == []


async def test_signature_refusals(rig: Rig, samples_dir: Path) -> None:
    body = _case_body(rig, _case(rig, samples_dir))
    good = rig.signed(body)
    other = rig.signed(_case_body(rig, dataclasses.replace(_case(rig, samples_dir), version=9)), nonce="f" * 32)
    transplanted = re.sub(rb'sign="[0-9a-f]+"', re.search(rb'sign="[0-9a-f]+"', other).group(0), good)  # type: ignore
    attempts = {
        "wrong secret": rig.signed(body, secret=Secret("not-the-secret"), nonce="1" * 32),
        "tampered value": good.replace(b'version="2"', b'version="3"'),
        "sign over other bytes": transplanted,
        "indentation inside the element": good.replace(b"  <ex:Agent", b" <ex:Agent"),
        "a newline added inside the element": good.replace(b"</ex:Case>", b"\n</ex:Case>"),
        "nonce not lower hex": _with_auth(good, rig.gw, nonce="A" * 32),
        "timestamp changed": good.replace(str(round(T0 * 1000)).encode(), str(round(T0 * 1000) + 1).encode()),
        "sign removed": re.sub(rb' sign="[0-9a-f]+"', b"", good),
    }
    for name, request in attempts.items():
        fault = _signed_fault(rig, await rig.post(request))
        assert (fault.code, fault.server) == ("SIGNATURE_INVALID", False), name
    assert rig.sim.book.snapshot() == []
    outside = good.replace(b"\n  <soap:Body>", b"\n\n     <soap:Body>")  # outside the signed element: no change
    assert (await rig.post(outside)).status == 200
    in_tag = rig.signed(body, nonce="2" * 32).replace(b"<ex:Applicant ", b"<ex:Applicant  \n ")
    assert (await rig.post(in_tag)).status == 200  # exc-C14N normalises whitespace between attributes


async def test_window_and_nonce(rig: Rig, samples_dir: Path) -> None:
    body = _case_body(rig, _case(rig, samples_dir))
    for i, at in enumerate((T0 - 300.001, T0 + 300.001)):
        fault = _signed_fault(rig, await rig.post(rig.signed(body, at=at, nonce=f"{i:032x}")))
        assert fault.code == "REPLAYED"
    edge = rig.signed(body, at=T0 - 300.0, nonce="e" * 32)
    assert (await rig.post(edge)).status == 200
    fault = _signed_fault(rig, await rig.post(edge))  # the same nonce again
    assert fault.code == "REPLAYED"
    rig.clock.t += 200  # still within 10 minutes of first use, and a fresh timestamp: the nonce stays spent
    fault = _signed_fault(rig, await rig.post(rig.signed(body, nonce="e" * 32)))
    assert fault.code == "REPLAYED"


async def _post_large(rig: Rig, body: bytes) -> HttpResponse:
    """A body over 1 MiB as a stream: aiohttp warns about raw bytes that large, which the transport sends (reported)."""
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": ACTION["case"]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(rig.url + SERVICE_PATH, data=io.BytesIO(body), headers=headers) as resp,
    ):
        return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read())


async def test_soap_action_mismatch_and_transport_refusals(rig: Rig, samples_dir: Path) -> None:
    good = rig.signed(_case_body(rig, _case(rig, samples_dir)))
    for i, action in enumerate((SOAP_ACTIONS["status"], None, "urn:sh:ywtb:exchange:2.0#submitCase")):
        request = good.replace(NONCE.encode(), f"{i:032x}".encode())
        request = rig.signed(_unsigned(request), nonce=f"{i:032x}")
        fault = _signed_fault(rig, await rig.post(request, action))
        assert (fault.code, fault.field) == ("MALFORMED", "SOAPAction")
    big = good.replace(b"</ex:Case>", b"<ex:Remark>" + b"x" * 2_097_152 + b"</ex:Remark></ex:Case>")
    assert _signed_fault(rig, await _post_large(rig, big)).code == "BODY_TOO_LARGE"
    dtd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]>' + good.split(b"?>", 1)[1]
    assert _signed_fault(rig, await rig.post(dtd)).code == "XML_DTD_FORBIDDEN"
    assert _signed_fault(rig, await rig.post(b"<soap:Envelope")).code == "MALFORMED"


# --- faults of the platform, through the fault plan ------------------------------------------------------------------
async def test_fault_plan_outcomes_and_a_fresh_retry(rig: Rig, samples_dir: Path) -> None:
    case, client = _case(rig, samples_dir), rig.client()
    rig.plan.update({"error_rate": 1})
    with pytest.raises(ServerError):
        await client.submit("case", case, "m")
    rig.plan.update({"error_rate": 0, "throttle_rate": 1, "retry_after": 7})
    with pytest.raises(Throttled) as throttled:
        await client.submit("case", case, "m")
    assert throttled.value.retry_after == 7
    rig.plan.update({"throttle_rate": 0, "drop_rate": 1})
    with pytest.raises(ConnectionFailed):
        await client.submit("case", case, "m")
    rig.plan.update({"drop_rate": 0})
    accepted = await client.submit("case", case, "m")
    assert accepted.receipt_no and len(rig.sim.book.snapshot("case")) == 1
    stamps = {
        (a["timestamp"], a["nonce"])
        for r in rig.transport.sent
        if (a := auth_header(read_envelope(r.body).envelope)) is not None
    }
    assert len(stamps) == len(rig.transport.sent) == 4


async def test_a_wrong_secret_on_our_side_is_an_unverified_answer(rig: Rig, samples_dir: Path) -> None:
    (rig.folder / "other_secret").write_text("another-secret")
    wrong = load_link({**rig.gateway_side, "app_secret_file": "other_secret"}, rig.folder)
    with pytest.raises(ServerError) as info:  # the platform's signed fault does not verify with our secret
        await rig.client(wrong).submit("case", _case(rig, samples_dir), "m")
    assert info.value.reason == "unverified answer"


# --- the client against a rogue platform's crafted answers ------------------------------------------------------
async def _rogue(rig: Rig, answer: bytes, status: int = 500) -> Client:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=answer, content_type="text/xml")

    app = web.Application()
    app.router.add_post(SERVICE_PATH, handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    rig.rogues.append(server)
    return rig.client(url=str(server.make_url("")).rstrip("/") + SERVICE_PATH)


async def test_client_refuses_unverified_answers(rig: Rig, samples_dir: Path) -> None:
    case = _case(rig, samples_dir)
    now_ms = round(rig.clock.t * 1000)
    refusal = render_fault(SoapFault("no", "ID_CHECKSUM", "Case/Applicant/@certNo"))
    receipt = render_submit_case_response("R1")
    crafted = {
        "unsigned fault": (refusal, 500),
        "fault signed with another secret": (sign_message(refusal, rig.gw.app_id, Secret("x"), now_ms, NONCE), 500),
        "unsigned success": (receipt, 200),
        "success signed by an unknown appId": (
            sign_message(receipt, "SJ-OTHER", rig.gw.app_secret, now_ms, NONCE),
            200,
        ),
        "stale answer": (sign_message(receipt, rig.gw.app_id, rig.gw.app_secret, now_ms - 300_001, NONCE), 200),
        "tampered receipt": (
            sign_message(receipt, rig.gw.app_id, rig.gw.app_secret, now_ms, NONCE).replace(b'"R1"', b'"R2"'),
            200,
        ),
        "not SOAP": (b"<html>oops</html>", 500),
    }
    for name, (body, status) in crafted.items():
        with pytest.raises(ServerError) as info:
            await (await _rogue(rig, body, status)).submit("case", case, "m")
        assert info.value.reason in ("unverified answer", "unreadable answer"), name
    signed_refusal = sign_message(refusal, rig.gw.app_id, rig.gw.app_secret, now_ms, NONCE)
    with pytest.raises(Refusal) as refused:
        await (await _rogue(rig, signed_refusal)).submit("case", case, "m")
    assert (refused.value.code, refused.value.where) == ("ID_CHECKSUM", "Case/Applicant/@certNo")
    server_fault = sign_message(
        render_fault(SoapFault("busy", server=True)), rig.gw.app_id, rig.gw.app_secret, now_ms, NONCE
    )
    with pytest.raises(ServerError) as busy:
        await (await _rogue(rig, server_fault)).submit("case", case, "m")
    assert busy.value.reason == "platform fault"
    good = sign_message(receipt, rig.gw.app_id, rig.gw.app_secret, now_ms, NONCE)
    assert (await (await _rogue(rig, good, 200)).submit("case", case, "m")).receipt_no == "R1"


# --- the other direction: the platform calls the gateway back with the same link -----------------------------------
async def test_simulator_emits_a_status_event_to_an_endpoint_on_the_gateway_side(rig: Rig, samples_dir: Path) -> None:
    """The gateway's inbound side is the same ``Endpoint`` holding the gateway's half of the link; the simulator
    signs with the platform's half (README §1: songjiang also sends)."""
    platform = rig.registry.platforms["songjiang"]
    inbound_spec = SimulatorSpec(platform, rig.gateway_side, rig.folder)
    inbound_app, inbound, _ = build_simulator(inbound_spec, rig.registry, clock=rig.clock)
    inbound_server = TestServer(inbound_app, host="127.0.0.1", port=0)
    await inbound_server.start_server()
    rig.rogues.append(inbound_server)
    gateway_url = str(inbound_server.make_url("")).rstrip("/")
    spec = SimulatorSpec(platform, rig.platform_side, rig.folder, gateway_url=gateway_url)
    app, _, _ = build_simulator(spec, rig.registry, clock=rig.clock, transport=rig.transport)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    rig.rogues.append(server)
    event = _status(rig, samples_dir, "status/SS004.xml")
    emitted = await rig.transport.send(
        HttpRequest(
            "POST",
            str(server.make_url("/_sim/emit-status")),
            {"content-type": "application/json"},
            json.dumps(_jsonable(to_ref(event)), ensure_ascii=False).encode(),
        )
    )
    assert emitted.status == 200 and json.loads(emitted.body) == {"receipt": ""}
    [entry] = inbound.book.snapshot("status")
    assert entry["record"] == _jsonable(to_ref(event)) and entry["caller"] == rig.gw.app_id
