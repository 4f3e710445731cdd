"""The g60 wire scheme against real loopback servers: mutual TLS, XMLDSig, receipts, batches, licences, faults.

Every server here is the real simulator app (``build_simulator``) behind real TLS on 127.0.0.1 port 0, called by the
real ``Client`` over a real ``AiohttpTransport``; raw requests are built from the published samples and signed with
certificates generated in the test. Time is an injected mutable clock near the real one (the TLS layer checks
certificate validity with the real clock, the scheme with the injected one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import timeit
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from lxml import etree

from adapters.base import Envelope
from adapters.g60.codec import NS, Receipt, parse_receipt, render_receipt
from adapters.g60.roles import Client, Endpoint, Link, generate_link, load_link, server_ssl_context
from adapters.g60.scheme import (
    REPEATED,
    UNKNOWN_REF,
    Signer,
    put_licence_signature,
    read_licence_signature,
    read_message,
    receipt_message_id,
    sign_message,
    sign_rendered,
    verify_licence_signature,
    verify_signature,
)
from adapters.wire import Exchange, HttpRequest, HttpResponse
from gateway.consent import issue_consent
from gateway.delivery.outcomes import ConnectionFailed, ServerError, Throttled
from gateway.errors import ConfigError, Refusal
from gateway.model.licence_sign import LicenceSignature, licence_signing_string
from gateway.model.records import ItemBatch, LicenceQuery, to_ref
from gateway.model.timefmt import BEIJING
from gateway.server.endpoints import endpoint_routes
from gateway.simulate.app import SimulatedPlatform, SimulatorSpec, build_simulator
from gateway.simulate.faults import FaultPlan
from gateway.simulate.licences import LicenceLibrary
from gateway.transport import AiohttpTransport, FakeTransport
from gateway.wire.base import Accepted, WireContext
from signing import tls
from signing.devpki import Issued, generate_p256, issue_tls_client, issue_xml_signing, make_ca
from signing.keys import SigningKey, load_private_key_file, sm2_public_from_hex
from signing.replay import InMemoryReplayGuard
from signing.trust import TrustStore

DS = "http://www.w3.org/2000/09/xmldsig#"
CERT_SN = "ahkm-consent-test"


class Clock:
    """A mutable clock (Unix seconds) the scheme reads; starts at the real time so certificates are valid."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@dataclass
class Peer:
    """One running simulator and everything a test needs to talk to it."""

    platform: Any
    app: web.Application
    sim: SimulatedPlatform
    plan: FaultPlan
    url: str
    client: Client
    gw: Link
    pf: Link
    clock: Clock
    transport: AiohttpTransport
    folder: Path


# --- credentials, once per module --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory, registry: Any) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("g60-links")
    out: dict[str, Any] = {"folder": folder}
    for pid in ("g60", "yrd-map"):
        out[pid] = generate_link(folder, registry.platforms[pid])
    ca_dir = folder / "g60"
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    out["ca"] = Issued(ca_cert, load_private_key_file(ca_dir / "ca.key"))
    out["consent_key"] = SigningKey.of(CERT_SN, generate_p256())
    return out


@pytest.fixture
async def hub(creds: dict[str, Any], registry: Any) -> AsyncIterator[Peer]:
    async for peer in _serve("g60", creds, registry):
        yield peer


@pytest.fixture
async def ymap(creds: dict[str, Any], registry: Any) -> AsyncIterator[Peer]:
    async for peer in _serve("yrd-map", creds, registry):
        yield peer


async def _serve(pid: str, creds: dict[str, Any], registry: Any) -> AsyncIterator[Peer]:
    platform = registry.platforms[pid]
    gw_settings, pf_settings = creds[pid]
    folder: Path = creds["folder"]
    clock = Clock()
    plan = FaultPlan()
    key: SigningKey = creds["consent_key"]
    spec = SimulatorSpec(platform, pf_settings, folder, options={"consent_keys": {key.kid: key.verification_key()}})
    app, sim, server_tls = build_simulator(spec, registry, clock=clock, plan=plan)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    url = f"https://127.0.0.1:{port}"
    transport = AiohttpTransport()
    gw = load_link(gw_settings, folder)
    client = Client(WireContext(platform, gw, registry.adapter("g60"), clock, url), transport)
    try:
        yield Peer(platform, app, sim, plan, url, client, gw, load_link(pf_settings, folder), clock, transport, folder)
    finally:
        await transport.close()
        await runner.cleanup()


# --- helpers -----------------------------------------------------------------------------------------------------
def _sample(samples_dir: Path, kind: str, name: str) -> bytes:
    return (samples_dir / "g60" / kind / name).read_bytes()


def _record(registry: Any, kind: str, body: bytes) -> Any:
    return registry.adapter("g60").decode(kind, body)


def _plain(record: Any) -> Any:
    return json.loads(json.dumps(to_ref(record), default=lambda v: v.isoformat(), ensure_ascii=False))


def _message(
    peer: Peer,
    registry: Any,
    kind: str,
    record: Any,
    *,
    sender: str = "TONGBAN",
    receiver: str | None = None,
    at: float | None = None,
    message_id: str | None = None,
) -> bytes:
    """An unsigned message as the adapter renders it."""
    when = dt.datetime.fromtimestamp(peer.clock() if at is None else at, BEIJING)
    env = Envelope(message_id or str(uuid.uuid4()), when, "r", sender, receiver or peer.gw.peer_code)
    return registry.adapter("g60").encode(kind, record, env)


async def _post(peer: Peer, body: bytes, context: Any = None, path: str = "/g60/v1/messages") -> HttpResponse:
    tls_ctx = peer.gw.client_tls if context is None else context
    request = HttpRequest("POST", peer.url + path, {"content-type": "application/xml; charset=GB18030"}, body, tls_ctx)
    return await peer.transport.send(request)


def _receipt(peer: Peer, response: HttpResponse) -> Receipt:
    """The answer must be HTTP 200 and signed by the platform (§7); then its receipt."""
    assert response.status == 200
    assert response.header("content-type") == "application/xml; charset=GB18030"
    header, root = read_message(response.body)
    verify_signature(root, header, peer.gw.trust, peer.clock())
    assert header["SenderCode"] == peer.pf.code
    return parse_receipt(response.body)


def _refused(peer: Peer, response: HttpResponse, code: str, where: str | None = None) -> Receipt:
    receipt = _receipt(peer, response)
    assert not receipt.accepted
    assert receipt.error_code is not None and receipt.error_code.value == code
    if where is not None:
        assert receipt.error_path == where
    return receipt


def _client_context(peer: Peer, tmp_path: Path, issued: Issued, server_ca: Path | None = None) -> Any:
    cert, key = tmp_path / f"c{uuid.uuid4().hex}.pem", tmp_path / f"k{uuid.uuid4().hex}.pem"
    cert.write_bytes(issued.cert_pem())
    key.write_bytes(issued.key_pem())
    return tls.client_context(server_ca or peer.gw.ca_file, cert, key)


@pytest.fixture(scope="module")
def case_sc001(registry: Any, samples_dir: Path) -> Any:
    return _record(registry, "case", _sample(samples_dir, "case", "SC001.xml"))


@pytest.fixture(scope="module")
def status_ss002(registry: Any, samples_dir: Path) -> Any:
    return _record(registry, "status", _sample(samples_dir, "status", "SS002.xml"))


# --- the document's examples -------------------------------------------------------------------------------------
def test_samples_sign_and_verify_with_the_scheme(samples_dir: Path, creds: dict[str, Any]) -> None:
    """§10's examples (shown unsigned) signed with §4's profile verify, and keep their GB18030 bytes and header."""
    ca: Issued = creds["ca"]
    trust = TrustStore("G60 CA", (ca.cert,))
    signer_cert = issue_xml_signing(ca, "340100")
    signer = Signer(signer_cert.cert, signer_cert.key)
    for kind, name in (("case", "SC001.xml"), ("status", "SS002.xml"), ("licence", "SL002.xml"), ("item", "SI002.xml")):
        body = _sample(samples_dir, kind, name)
        signed = sign_rendered(body, signer)
        assert signed.startswith(b'<?xml version="1.0" encoding="GB18030"?>\n<G60Message')
        header, root = read_message(signed)
        assert root[-1].tag == f"{{{DS}}}Signature"  # §4: the last child
        sig = root[-1]
        assert sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}CanonicalizationMethod").get("Algorithm") == (
            "http://www.w3.org/2001/10/xml-exc-c14n#"
        )
        assert sig.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod").get("Algorithm") == (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        )
        transforms = [t.get("Algorithm") for t in sig.iter(f"{{{DS}}}Transform")]
        assert transforms == [
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "http://www.w3.org/2001/10/xml-exc-c14n#",
        ]
        cert = verify_signature(root, header, trust, time.time())
        assert cert == signer_cert.cert
        assert header == read_message(body)[0]
        assert body.split(b"<Body>")[1].split(b"</Body>")[0] in signed  # the record's bytes are untouched


def test_gb18030_test_value_survives_signing(creds: dict[str, Any], case_sc001: Any, registry: Any) -> None:
    """§2: 𠂇 U+20087 is 95 32 90 31 (2005) inside a signed message, and verifies."""
    ca: Issued = creds["ca"]
    issued = issue_xml_signing(ca, "TONGBAN")
    case = replace(case_sc001, remark="𠂇 㛃 䶮 𠀐")
    env = Envelope(str(uuid.uuid4()), dt.datetime.now(BEIJING), "r", "TONGBAN", "G60")
    signed = sign_rendered(registry.adapter("g60").encode("case", case, env), Signer(issued.cert, issued.key))
    assert b"\x95\x32\x90\x31" in signed and b"\xfe\x51" not in signed
    header, root = read_message(signed)
    verify_signature(root, header, TrustStore("G60 CA", (ca.cert,)), time.time())
    assert registry.adapter("g60").decode("case", signed).remark == "𠂇 㛃 䶮 𠀐"


def test_licence_signature_worked_example_travels_in_licence_data(
    registry: Any, samples_dir: Path, platforms_dir: Path, creds: dict[str, Any]
) -> None:
    """anhui.md §9's licence signature verifies over the g60 sample SL001 (the same record), as DigitalSign."""
    text = (platforms_dir / "anhui.md").read_text(encoding="utf-8")
    worked = text.split("Licence signing string (792 bytes, UTF-8):")[1].split("```text\n")[1].split("\n```")[0]
    signature = re.search(r"```text\n(MEQ[^\n]+)\n```", text)
    assert signature is not None
    body = _sample(samples_dir, "licence", "SL001.xml")
    licence = _record(registry, "licence", body)
    assert licence_signing_string(licence) == worked.encode("utf-8")
    assert len(worked.encode("utf-8")) == 792
    public = sm2_public_from_hex(
        "0436d2649b0e40d13df5c87947e5b8aae807d307c24ae9bf965c53c8b0320226a0f8ce9e76c0d5ebac8fb0d8c23a381d5f"
        "ee4298da23cedc15df00a6902c0abb13"
    )
    sig = LicenceSignature(signature.group(1), "HEFEI-TEST")
    verify_licence_signature(licence, sig, {"HEFEI-TEST": public})
    _, root = read_message(body)
    put_licence_signature(root, sig)
    issued = issue_xml_signing(creds["ca"], "340100")
    signed = sign_message(root, Signer(issued.cert, issued.key))
    assert b'<DigitalSign Alg="SM2-SM3" UserId="1234567812345678" CertSn="HEFEI-TEST">MEQ' in signed
    assert signed.index(b"</Surface>") < signed.index(b"<DigitalSign")
    header, signed_root = read_message(signed)
    verify_signature(signed_root, header, TrustStore("G60 CA", (creds["ca"].cert,)), time.time())
    assert read_licence_signature(signed_root) == sig
    assert registry.adapter("g60").decode("licence", signed) == licence  # DigitalSign is an envelope field
    with pytest.raises(Refusal) as info:
        verify_licence_signature(replace(licence, number="00202416191580"), sig, {"HEFEI-TEST": public})
    assert (info.value.code.value, info.value.where) == ("SIGNATURE_INVALID", "Licence/DigitalSign")


# --- submissions -------------------------------------------------------------------------------------------------
async def test_case_accepted_read_back_and_repeated(hub: Peer, case_sc001: Any) -> None:
    accepted = await hub.client.submit("case", case_sc001, "msg-case-1")
    assert not accepted.repeated
    records = hub.sim.book.snapshot("case")
    assert len(records) == 1
    assert records[0]["record"] == _plain(case_sc001)
    assert records[0]["caller"] == "TONGBAN" and records[0]["message_id"] == "msg-case-1"
    assert accepted.receipt_no == receipt_message_id("G60", records[0]["receipt"])
    hub.clock.now += 5
    again = await hub.client.submit("case", case_sc001, "msg-case-1")
    assert (again.receipt_no, again.repeated) == (accepted.receipt_no, True)
    other_id = await hub.client.submit("case", case_sc001, "msg-case-2")  # same case_no + version (README §9)
    assert (other_id.receipt_no, other_id.repeated) == (accepted.receipt_no, True)
    assert len(hub.sim.book.snapshot("case")) == 1


async def test_status_accepted_and_lower_seq_refused(hub: Peer, status_ss002: Any) -> None:
    accepted = await hub.client.submit("status", status_ss002, "msg-status-4")
    assert hub.sim.book.snapshot("status")[0]["record"] == _plain(status_ss002)
    assert accepted.receipt_no
    lower = replace(status_ss002, seq=3, status="IN_PROGRESS", promise_end=None)
    with pytest.raises(Refusal) as info:
        await hub.client.submit("status", lower, "msg-status-3")
    assert info.value.code == "RULE_VIOLATION"


async def test_decoding_refusal_reaches_the_client_with_code_and_field(hub: Peer, case_sc001: Any) -> None:
    bad = replace(case_sc001, dept_code="11320500MBYNYFCG7A")  # GB 32100 check character wrong
    with pytest.raises(Refusal) as info:
        await hub.client.submit("case", bad, "msg-bad-uscc")
    assert (info.value.code, info.value.where) == ("USCC_CHECKSUM", "Case/DeptCode")
    assert hub.sim.book.snapshot("case") == []


async def test_item_batch_results_per_item(ymap: Peer, registry: Any, samples_dir: Path) -> None:
    good = _record(registry, "item", _sample(samples_dir, "item", "SI002.xml")).items[0]
    second = replace(good, item_code="000172001000", item_name="第二个事项", region="340100")
    bad = replace(good, dept_code="11320500MBYNYFCG7A")
    result = await ymap.client.upload_items(ItemBatch((good, bad, second)), "msg-batch-1")
    assert [(r.item_code, r.region, r.ok, r.code, r.where) for r in result.results] == [
        (good.item_code, good.region, True, None, None),
        (bad.item_code, bad.region, False, "USCC_CHECKSUM", "Item/DeptCode"),
        ("000172001000", "340100", True, None, None),
    ]
    assert result.accepted == 2 and result.batch_no.startswith("B")
    assert [r["record"] for r in ymap.sim.book.snapshot("item")] == [_plain(good), _plain(second)]
    again = await ymap.client.upload_items(ItemBatch((good,)), "msg-batch-1")  # §7: the first answer again
    assert again.results == result.results
    assert len(ymap.sim.book.snapshot("item")) == 2


async def test_item_batch_too_large_is_one_refusal(ymap: Peer, registry: Any, samples_dir: Path) -> None:
    good = _record(registry, "item", _sample(samples_dir, "item", "SI002.xml")).items[0]
    body = _message(ymap, registry, "item", ItemBatch((good,)), receiver="YRDMAP")
    tree = etree.fromstring(body.split(b"?>", 1)[1].decode("gb18030").encode())
    batch = tree.find(f"{{{NS}}}Body/{{{NS}}}ItemBatch")
    for _ in range(500):
        batch.append(etree.fromstring(etree.tostring(batch[0])))
    batch.set("Count", "501")
    signed = sign_message(tree, ymap.gw.signer)
    response = await _post(ymap, signed, path="/yrdmap/v1/itembatch")
    _refused(ymap, response, "BATCH_TOO_LARGE", "ItemBatch")


async def test_case_to_the_map_is_unsupported(ymap: Peer, registry: Any, case_sc001: Any) -> None:
    body = sign_rendered(_message(ymap, registry, "case", case_sc001, receiver="YRDMAP"), ymap.gw.signer)
    _refused(ymap, await _post(ymap, body, path="/yrdmap/v1/itembatch"), "UNSUPPORTED_TYPE", "Header/MessageType")


# --- licences ----------------------------------------------------------------------------------------------------
def _query(peer: Peer, creds: dict[str, Any], identifier: str, **claims: Any) -> LicenceQuery:
    assert "licence_query" in peer.sim.extras
    licence = _library(peer).get(identifier)[0]
    values = {
        "sub": licence.holder_code,
        "aud": "g60",
        "scope": licence.type_code,
        "purpose": "3302002506000000417",
        "issuer": "https://akm.ahzwfw.gov.cn",
    }
    values.update(claims)
    token = issue_consent(creds["consent_key"], now=peer.clock(), **values)
    return LicenceQuery(identifier, "跨省通办办件核验", token)


def _library(peer: Peer, region: str = "340100") -> LicenceLibrary:
    assert peer.pf.licence_signer is not None
    sn, key = peer.pf.licence_signer
    return LicenceLibrary(key, sn, region, 0, 50)  # the same seed gives the simulator's licences


async def test_licence_query_answer_verified(hub: Peer, creds: dict[str, Any]) -> None:
    identifier = _library(hub).identifiers()[3]
    answer = await hub.client.query_licence(_query(hub, creds, identifier), "msg-licence-1")
    assert answer.licence == _library(hub).get(identifier)[0]
    assert answer.signature is not None and answer.signature.cert_sn in hub.gw.licence_keys


async def test_licence_query_refusals(hub: Peer, creds: dict[str, Any]) -> None:
    identifier = _library(hub).identifiers()[0]
    with pytest.raises(Refusal) as info:
        await hub.client.query_licence(_query(hub, creds, identifier, scope="11100000MB0A3K7N3X001"), "m1")
    assert (info.value.code, info.value.where) == ("CONSENT_INVALID", "LicenceQuery/ConsentToken")
    elsewhere = _library(hub, "330200").identifiers()[0]  # a valid identifier the library does not hold
    unknown = replace(_query(hub, creds, identifier), identifier=elsewhere)
    with pytest.raises(Refusal) as info:
        await hub.client.query_licence(unknown, "m2")
    assert (info.value.code, info.value.where) == ("UNKNOWN_CODE", "LicenceQuery/Identifier")
    with pytest.raises(Refusal) as info:
        await hub.client.query_licence(replace(unknown, identifier=identifier[:-1] + "0"), "m3")
    assert (info.value.code, info.value.where) == ("LICENCE_ID_CHECKSUM", "LicenceQuery/Identifier")


async def test_licence_with_a_signature_we_do_not_trust_is_refused(hub: Peer, creds: dict[str, Any]) -> None:
    identifier = _library(hub).identifiers()[1]
    stranger = replace(hub.gw, licence_keys={})
    client = Client(replace(hub.client.ctx, link=stranger), hub.transport)
    with pytest.raises(Refusal) as info:
        await client.query_licence(_query(hub, creds, identifier), "m3")
    assert (info.value.code, info.value.where) == ("SIGNATURE_INVALID", "Licence/DigitalSign")


# --- security: each answered in the documented form (HTTP 200, signed REJECTED receipt) or refused at TLS ---------
def _signed_case(peer: Peer, registry: Any, case: Any, signer: Signer | None = None, **kw: Any) -> bytes:
    return sign_rendered(_message(peer, registry, "case", case, **kw), signer or peer.gw.signer)


def _tree(body: bytes) -> Any:
    return read_message(body)[1]


async def test_no_client_certificate_is_refused_at_tls(hub: Peer, registry: Any, case_sc001: Any) -> None:
    body = _signed_case(hub, registry, case_sc001)
    with pytest.raises(ConnectionFailed):
        await _post(hub, body, tls.client_context(hub.gw.ca_file))
    assert hub.sim.book.calls == 0


async def test_client_certificate_from_another_ca_is_refused_at_tls(
    hub: Peer, registry: Any, case_sc001: Any, tmp_path: Path
) -> None:
    stranger = issue_tls_client(make_ca("Somebody Else CA"), "TONGBAN")
    with pytest.raises(ConnectionFailed):
        await _post(hub, _signed_case(hub, registry, case_sc001), _client_context(hub, tmp_path, stranger))
    assert hub.sim.book.calls == 0


async def test_tls_certificate_of_another_member_is_auth_failed(
    hub: Peer, registry: Any, case_sc001: Any, creds: dict[str, Any], tmp_path: Path
) -> None:
    other = issue_tls_client(creds["ca"], "330400")
    context = _client_context(hub, tmp_path, other)
    body = _signed_case(hub, registry, case_sc001)
    receipt = _refused(hub, await _post(hub, body, context), "AUTH_FAILED", "Header/SenderCode")
    assert receipt.ref_message_id == read_message(body)[0]["MessageId"]
    assert hub.sim.book.calls == 0


async def test_signer_certificate_of_another_code_is_auth_failed(
    hub: Peer, registry: Any, case_sc001: Any, creds: dict[str, Any]
) -> None:
    issued = issue_xml_signing(creds["ca"], "330400", key=hub.gw.signer.key)
    body = _signed_case(hub, registry, case_sc001, Signer(issued.cert, issued.key))
    _refused(hub, await _post(hub, body), "AUTH_FAILED", "Header/SenderCode")


async def test_member_not_on_the_allow_list_is_auth_failed(
    hub: Peer, registry: Any, case_sc001: Any, creds: dict[str, Any], tmp_path: Path
) -> None:
    """A G60 CA member with matching TLS and signing certificates, but not a partner of this link."""
    context = _client_context(hub, tmp_path, issue_tls_client(creds["ca"], "330400"))
    issued = issue_xml_signing(creds["ca"], "330400", key=hub.gw.signer.key)
    body = _signed_case(hub, registry, case_sc001, Signer(issued.cert, issued.key), sender="330400")
    _refused(hub, await _post(hub, body, context), "AUTH_FAILED", "Header/SenderCode")


@pytest.mark.parametrize(
    "defect",
    ["unsigned", "other_ca", "expired", "not_last", "changed", "other_bytes", "rsa_sha1", "hmac", "no_keyinfo"],
)
async def test_bad_signatures_are_signature_invalid(
    hub: Peer, registry: Any, case_sc001: Any, creds: dict[str, Any], defect: str
) -> None:
    body = _signed_case(hub, registry, case_sc001)
    if defect == "unsigned":
        body = _message(hub, registry, "case", case_sc001)
    elif defect == "other_ca":  # KeyInfo certificate with the right code from another CA
        issued = issue_xml_signing(make_ca("Somebody Else CA"), "TONGBAN", key=hub.gw.signer.key)
        body = _signed_case(hub, registry, case_sc001, Signer(issued.cert, issued.key))
    elif defect == "expired":  # valid yesterday, at the receiver's (injected) clock no more
        now = dt.datetime.fromtimestamp(hub.clock(), dt.UTC)
        issued = issue_xml_signing(
            creds["ca"],
            "TONGBAN",
            key=hub.gw.signer.key,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(seconds=1),
        )
        body = _signed_case(hub, registry, case_sc001, Signer(issued.cert, issued.key))
    elif defect == "not_last":
        root = _tree(body)
        sig = root[-1]
        root.remove(sig)
        root.insert(1, sig)
        body = _bytes(root)
    elif defect == "changed":  # an element changed after signing
        body = body.replace("个体工商户注册登记申请".encode("gb18030"), "个体工商户变更登记申请".encode("gb18030"))
    elif defect == "other_bytes":  # a valid signature of another message
        other = _signed_case(hub, registry, replace(case_sc001, remark="另一份"))
        root = _tree(body)
        root.remove(root[-1])
        root.append(_tree(other)[-1])
        body = _bytes(root)
    elif defect in ("rsa_sha1", "hmac"):
        uri = {
            "rsa_sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "hmac": "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        }[defect]
        body = body.replace(b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", uri.encode())
    elif defect == "no_keyinfo":
        root = _tree(body)
        key_info = root[-1].find(f"{{{DS}}}KeyInfo")
        root[-1].remove(key_info)
        body = _bytes(root)
    _refused(hub, await _post(hub, body), "SIGNATURE_INVALID")
    assert hub.sim.book.calls == 0


def _bytes(root: Any) -> bytes:
    return b'<?xml version="1.0" encoding="GB18030"?>\n' + etree.tostring(root, encoding="unicode").encode("gb18030")


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (-301, False), (300, True), (301, False)])
async def test_sent_at_window(hub: Peer, registry: Any, case_sc001: Any, offset: int, ok: bool) -> None:
    """§7: SentAt more than 300 s from the receiver's clock, either way, is REPLAYED."""
    body = _signed_case(hub, registry, case_sc001, at=hub.clock() + offset)
    receipt = _receipt(hub, await _post(hub, body))
    if ok:
        assert receipt.accepted
    else:
        assert receipt.error_code is not None and receipt.error_code.value == "REPLAYED"
        assert receipt.error_path == "Header/SentAt"
        assert hub.sim.book.calls == 0


async def test_replayed_message_gets_the_first_receipt_then_replayed(hub: Peer, registry: Any, case_sc001: Any) -> None:
    """No nonce in g60: the same bytes again get the first receipt (§7); after the window, REPLAYED."""
    body = _signed_case(hub, registry, case_sc001)
    first = await _post(hub, body)
    hub.clock.now += 10
    second = await _post(hub, body)
    assert read_message(first.body)[0]["MessageId"] == read_message(second.body)[0]["MessageId"]
    assert _receipt(hub, second).message == REPEATED
    hub.clock.now += 300
    _refused(hub, await _post(hub, body), "REPLAYED", "Header/SentAt")
    assert len(hub.sim.book.snapshot("case")) == 1


async def test_same_message_id_with_other_content_gets_the_first_receipt(
    hub: Peer, registry: Any, case_sc001: Any
) -> None:
    first = await _post(hub, _signed_case(hub, registry, case_sc001, message_id="fixed-id"))
    other = replace(case_sc001, case_no="3205002405030569999")
    second = await _post(hub, _signed_case(hub, registry, other, message_id="fixed-id"))
    assert _receipt(hub, first).accepted and _receipt(hub, second).message == REPEATED
    assert read_message(first.body)[0]["MessageId"] == read_message(second.body)[0]["MessageId"]
    assert len(hub.sim.book.snapshot("case")) == 1


async def test_refusals_before_the_signature(hub: Peer, registry: Any, case_sc001: Any) -> None:
    """README §10: body size, encoding, DTD and well-formedness come first, each a signed receipt."""
    # §5: 10 MiB. Straight to the endpoint: AiohttpTransport warns (ResourceWarning) on raw bodies over 1 MiB.
    ctx = WireContext(hub.platform, hub.pf, registry.adapter("g60"), hub.clock)
    endpoint = Endpoint(ctx, InMemoryReplayGuard(), hub.sim)
    limit = 10 * 1024 * 1024
    head = b'<?xml version="1.0" encoding="GB18030"?>\n<G60Message>'
    too_large = head + b" " * (limit + 1 - len(head))
    answer = HttpResponse(
        200, {"content-type": "application/xml; charset=GB18030"}, await endpoint.answer(too_large, None)
    )
    assert _refused(hub, answer, "BODY_TOO_LARGE").ref_message_id == UNKNOWN_REF
    at_limit = await endpoint.answer(too_large[:-1], None)  # exactly 10 MiB: read on, not well-formed
    _refused(hub, HttpResponse(200, {"content-type": "application/xml; charset=GB18030"}, at_limit), "MALFORMED")
    _refused(hub, await _post(hub, b"<G60Message/>"), "ENCODING_MISMATCH")
    dtd = b'<?xml version="1.0" encoding="GB18030"?><!DOCTYPE x [<!ENTITY a "b">]><G60Message/>'
    _refused(hub, await _post(hub, dtd), "XML_DTD_FORBIDDEN")
    _refused(hub, await _post(hub, b'<?xml version="1.0" encoding="GB18030"?><G60Message>'), "MALFORMED")
    assert hub.sim.book.calls == 0


async def test_envelope_refusals_after_the_signature(hub: Peer, registry: Any, case_sc001: Any) -> None:
    body = _signed_case(hub, registry, case_sc001, receiver="YRDMAP")
    _refused(hub, await _post(hub, body), "MALFORMED", "Header/ReceiverCode")
    wrong_type = _message(hub, registry, "case", case_sc001).replace(b">CaseSubmit<", b">Receipt<")
    _refused(hub, await _post(hub, sign_rendered(wrong_type, hub.gw.signer)), "MALFORMED", "Header/MessageType")


async def test_plain_http_is_not_answered(hub: Peer, registry: Any, case_sc001: Any) -> None:
    request = HttpRequest(
        "POST", hub.url.replace("https", "http") + "/g60/v1/messages", {}, _signed_case(hub, registry, case_sc001)
    )
    with pytest.raises(ConnectionFailed):
        await hub.transport.send(request)


# --- the client believes only signed answers from its peer --------------------------------------------------------
async def test_unsigned_or_foreign_answers_are_unverified(
    hub: Peer, registry: Any, case_sc001: Any, creds: dict[str, Any]
) -> None:
    def answer_with(signer: Signer | None, sender: str = "G60", ref: str = "m") -> Any:
        async def handler(request: HttpRequest) -> HttpResponse:
            env = Envelope(str(uuid.uuid4()), dt.datetime.now(BEIJING), "r", sender, "TONGBAN")
            body = render_receipt(Receipt.accept(ref), env)
            return HttpResponse(200, {}, body if signer is None else sign_rendered(body, signer))

        return handler

    impostor = issue_xml_signing(creds["ca"], "330400")
    for handler in (
        answer_with(None),
        answer_with(Signer(impostor.cert, impostor.key), "330400"),
        answer_with(hub.pf.signer, ref="another-message"),
    ):
        client = Client(hub.client.ctx, FakeTransport(handler))
        with pytest.raises(ServerError) as info:
            await client.submit("case", case_sc001, "m")
        assert info.value.reason == "unverified answer"
    good = Client(hub.client.ctx, FakeTransport(answer_with(hub.pf.signer)))
    assert (await good.submit("case", case_sc001, "m")).receipt_no


# --- faults ------------------------------------------------------------------------------------------------------
class Recording:
    """The real transport, keeping what was sent (same interface)."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self.inner = inner
        self.sent: list[HttpRequest] = []

    async def send(
        self, request: HttpRequest, *, timeout: float = 30.0, exchange: Exchange | None = None
    ) -> HttpResponse:
        self.sent.append(request)
        return await self.inner.send(request, timeout=timeout, exchange=exchange)


async def test_faults_then_a_freshly_signed_retry(hub: Peer, case_sc001: Any) -> None:
    recording = Recording(hub.transport)
    client = Client(hub.client.ctx, recording)
    hub.plan.update({"error_rate": 1})
    with pytest.raises(ServerError) as server_error:
        await client.submit("case", case_sc001, "msg-fault")
    assert server_error.value.reason == "HTTP 503"
    hub.plan.update({"error_rate": 0, "throttle_rate": 1, "retry_after": 7})
    with pytest.raises(Throttled) as throttled:
        await client.submit("case", case_sc001, "msg-fault")
    assert throttled.value.retry_after == 7
    hub.plan.update({"throttle_rate": 0, "drop_rate": 1})
    with pytest.raises(ConnectionFailed):
        await client.submit("case", case_sc001, "msg-fault")
    hub.plan.update({"drop_rate": 0})
    hub.clock.now += 2
    accepted = await client.submit("case", case_sc001, "msg-fault")
    assert not accepted.repeated and len(hub.sim.book.snapshot("case")) == 1
    headers = [read_message(r.body)[0] for r in recording.sent]
    assert {h["MessageId"] for h in headers} == {"msg-fault"}
    assert headers[0]["SentAt"] != headers[-1]["SentAt"]
    signatures = {_tree(r.body)[-1].findtext(f"{{{DS}}}SignatureValue") for r in recording.sent}
    assert len(signatures) >= 2


async def test_fault_plan_through_the_control_endpoint(hub: Peer, case_sc001: Any) -> None:
    request = HttpRequest(
        "PUT",
        hub.url + "/_sim/faults",
        {"content-type": "application/json"},
        json.dumps({"error_rate": 1}).encode(),
        hub.gw.client_tls,
    )
    assert (await hub.transport.send(request)).status == 200
    with pytest.raises(ServerError):
        await hub.client.submit("case", case_sc001, "msg-ctl")


# --- configuration -----------------------------------------------------------------------------------------------
def test_generated_files_and_link_errors(creds: dict[str, Any], tmp_path: Path) -> None:
    folder: Path = creds["folder"]
    gw_settings, pf_settings = creds["g60"]
    for name in ("ca.key", "gateway-sign.key", "gateway-tls.key", "platform-sign.key", "licence-sm2.key"):
        assert (folder / "g60" / name).stat().st_mode & 0o777 == 0o600
    link = load_link(gw_settings, folder)
    assert (link.code, link.peer_code, link.peer_codes) == ("TONGBAN", "G60", frozenset({"G60"}))
    assert "PRIVATE" not in repr(link) and "key=" not in repr(link.signer)
    with pytest.raises(ConfigError) as info:
        load_link({**gw_settings, "sign_key": "g60/nothing.key"}, folder)
    assert info.value.key == "sign_key"
    with pytest.raises(ConfigError) as info:
        load_link({**gw_settings, "code": "340100"}, folder)  # the certificates carry TONGBAN
    assert info.value.key == "sign_cert"
    with pytest.raises(ConfigError) as info:
        load_link({**pf_settings, "peer_codes": "TONGBAN"}, folder)
    assert info.value.key == "peer_codes"
    with pytest.raises(ConfigError) as info:
        load_link({k: v for k, v in gw_settings.items() if k != "ca"}, folder)
    assert info.value.key == "ca"


def test_sign_and_verify_cost(creds: dict[str, Any], registry: Any, case_sc001: Any) -> None:
    """The scheme per request: render + sign, then read + verify (printed with -s)."""
    gw = load_link(creds["g60"][0], creds["folder"])
    env = Envelope(str(uuid.uuid4()), dt.datetime.now(BEIJING), "r", "TONGBAN", "G60")
    rendered = registry.adapter("g60").encode("case", case_sc001, env)
    signed = sign_rendered(rendered, gw.signer)
    n = 20
    sign_s = timeit.timeit(lambda: sign_rendered(rendered, gw.signer), number=n) / n

    def verify() -> None:
        header, root = read_message(signed)
        verify_signature(root, header, gw.trust, time.time())

    verify_s = timeit.timeit(verify, number=n) / n
    print(f"g60 sign {sign_s * 1000:.2f} ms, verify {verify_s * 1000:.2f} ms per message")
    assert sign_s < 0.5 and verify_s < 0.5


def test_sign_rendered_writes_the_bytes_of_sign_message(creds: dict[str, Any], registry: Any, case_sc001: Any) -> None:
    """Signing the parsed rendering where it stands (issue 15 session 5) gives the bytes signing a copy gave: the
    same message, declaration, GB18030 text and signature (RSA PKCS#1 v1.5 is deterministic)."""
    gw = load_link(creds["g60"][0], creds["folder"])
    env = Envelope(str(uuid.uuid4()), dt.datetime.now(BEIJING), "r", "TONGBAN", "G60")
    odd = replace(case_sc001, project_name=case_sc001.project_name + ' 𠀐 a&b <c> "q"\r\n\td', remark="x\ry")
    for record in (case_sc001, odd):
        rendered = registry.adapter("g60").encode("case", record, env)
        _, root = read_message(rendered)
        assert sign_rendered(rendered, gw.signer) == sign_message(root, gw.signer)
        assert sign_rendered(rendered, gw.signer) == sign_rendered(rendered, gw.signer)


# --- the other direction: the hub calls the gateway's endpoint --------------------------------------------------
async def test_hub_submits_status_to_the_gateway_endpoint(hub: Peer, registry: Any, status_ss002: Any) -> None:
    """Both roles use one Link type: the gateway side serves, the platform side calls (g60 as the sender)."""
    received: list[Any] = []

    async def handler(call: Any) -> Any:
        received.append(call)
        return Accepted("GW0000000001")

    ctx = WireContext(hub.platform, hub.gw, registry.adapter("g60"), hub.clock)
    app = web.Application()
    app.add_routes(endpoint_routes(Endpoint(ctx, InMemoryReplayGuard(), handler)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(hub.gw))
    await site.start()
    try:
        url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        client = Client(WireContext(hub.platform, hub.pf, registry.adapter("g60"), hub.clock, url), hub.transport)
        accepted = await client.submit("status", status_ss002, "g60-status-1")
    finally:
        await runner.cleanup()
    assert accepted.receipt_no == receipt_message_id("TONGBAN", "GW0000000001")
    assert [(c.caller, c.operation, c.message_id, c.record) for c in received] == [
        ("G60", "status", "g60-status-1", status_ss002)
    ]


async def test_a_failing_handler_gets_a_signed_fault_receipt_not_a_bare_500(
    hub: Peer, creds: dict[str, Any], registry: Any, case_sc001: Any
) -> None:
    """Issue 12 item 6: the endpoint had no catch-all; what it cannot serve is a signed REJECTED receipt (§7: 5xx
    only for transport faults), 500 without Retry-After for anything but a store outage."""

    async def failing(call: Any) -> Any:
        raise RuntimeError("the business side broke")

    gw_settings, _ = creds["g60"]
    peer = x509.load_pem_x509_certificate((creds["folder"] / gw_settings["tls_cert"]).read_bytes())
    endpoint = Endpoint(
        WireContext(hub.platform, hub.pf, registry.adapter("g60"), hub.clock), InMemoryReplayGuard(), failing
    )
    status, body, headers = await endpoint.respond(_signed_case(hub, registry, case_sc001, message_id="m-fault"), peer)
    assert (status, headers) == (500, {})
    header, root = read_message(body)
    verify_signature(root, header, hub.gw.trust, hub.clock())
    assert (header["SenderCode"], header["MessageType"]) == (hub.pf.code, "Receipt")
    receipt = root.find(f"{{{NS}}}Body/{{{NS}}}Receipt")
    assert receipt.get("RefMessageId") == "m-fault"
    assert receipt.findtext(f"{{{NS}}}Result") == "REJECTED"
    assert receipt.find(f"{{{NS}}}ErrorCode") is None  # no README §10 code says "retry later"
