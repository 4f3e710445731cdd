"""The console's pure readers: what an entry's evidence says (scheme, key id, what was verified), how licence
exchanges are read from one licence's log entries, and the consent claims shown (never the holder)."""

from __future__ import annotations

import base64
import json

from gateway.console.evidence_view import EvidenceView, describe
from gateway.console.licences_view import consent_claims, exchanges
from gateway.dialects import dialect
from gateway.msglog.api import EntrySummary


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_each_scheme_and_key_id_is_read_by_the_dialect_of_the_entry() -> None:
    anhui, zlb, hunan, g60 = (dialect(n).describe_evidence for n in ("anhui", "zlb", "hunan", "g60"))
    jws = f"{_b64({'alg': 'ES256', 'kid': 'hefei-2026'})}..sig"
    assert describe("in", "case", {"x-ah-jws": jws}, anhui) == EvidenceView(
        "JWS ES256", "hefei-2026", "verified_on_receipt"
    )
    sm2 = describe("out", "case:POST", {"x-sm2-sign": "MEUC", "x-sm2-cert-sn": "0A1B"}, zlb)
    assert (sm2.scheme, sm2.key_id, sm2.result) == ("SM2 with SM3", "0A1B", "signed_by_gateway")
    tif = describe("in", "status:answer", {"x-tif-signature": "x", "x-tif-paasid": "zj-ningbo"}, anhui)
    assert (tif.scheme, tif.key_id, tif.result) == ("HMAC-SHA256 (x-tif)", "zj-ningbo", "answer_received")
    rfc = describe("in", "case", {"signature-input": 'sig1=("@method");keyid="cs-1";alg="ecdsa-p256-sha256"'}, hunan)
    assert (rfc.scheme, rfc.key_id) == ("HTTP Message Signatures ecdsa-p256-sha256", "cs-1")
    assert describe("in", "case", {}, g60).scheme == "XMLDSig / in the body"
    assert describe("in", "case", {"x-ah-jws": "not-a-jws"}, anhui).key_id == "-"  # damaged: shown, never raised
    assert describe("in", "console.retry", {}, None).result == "operator_action"
    assert describe("in", "case", {"x-ah-jws": jws}, None).scheme == "-"  # a platform no longer configured


def _entry(seq: int, direction: str, platform: str, operation: str, message: bytes | None = None) -> EntrySummary:
    return EntrySummary(seq=seq, at=float(seq), direction=direction, platform=platform, operation=operation,
                        record_type="licence", message_id=f"m{seq}", idem_key="", licence_id="L.1", message_size=0,
                        entry_hash="h", message=message)  # fmt: skip


def test_exchanges_are_read_in_order_and_the_holder_is_never_taken() -> None:
    token = f"{_b64({'alg': 'ES256'})}.{_b64({'jti': 'j-1', 'aud': 'ningbo', 'sub': 'HOLDER-ID', 'scope': 'T'})}.s"
    query = json.dumps({"consentToken": token}).encode()
    entries = [
        _entry(1, "in", "ningbo", "licence_query", query),
        _entry(2, "out", "hefei", "licence_query:POST"),
        _entry(3, "in", "hefei", "licence_query:answer"),
        _entry(4, "in", "ningbo", "licence_query", query),  # refused before forwarding
        _entry(5, "in", "shanghai", "licence_query"),
        _entry(6, "out", "hefei", "licence_query:POST"),  # forwarded, no answer logged
    ]
    found = exchanges(entries)
    assert [(x.requester, x.outcome, x.issuer) for x in found] == [
        ("shanghai", "no_answer", "hefei"), ("ningbo", "not_forwarded", None), ("ningbo", "answered", "hefei")
    ]  # fmt: skip
    assert found[-1].consent == {"jti": "j-1", "aud": "ningbo", "scope": "T"}  # no sub
    assert consent_claims(b"no token here") == {} and consent_claims(None) == {}
