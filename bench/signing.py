"""Throughput of the signing schemes next to the raw primitive they wrap, measured in the same run.

Run: ``.venv/bin/python bench/signing.py [--seconds 0.4]``. Prints, per scheme, sign/s and verify/s for the
scheme as the gateway uses it and for the bare primitive (same key, same bytes), and the overhead ratio
(raw ops/s ÷ scheme ops/s; 1.0 means no overhead). Then the XMLDSig library choice (issue 15 item 3): sign and
verify of a real g60 envelope (the carried sample SC001.xml) by the gateway's libxmlsec1 code and by signxml with
the same profile, key and trust store, as CPU µs per operation and the ratio. Takes well under a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, padding
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto.asymciphers import ec as sm_ec

from signing.devpki import generate_ed25519, generate_p256, issue_xml_signing, make_ca
from signing.httpsig import HttpMessage, content_digest, sign_message, verify_message
from signing.jws import sign_detached, verify_detached
from signing.jwt import issue_jwt, verify_jwt
from signing.keys import SigningKey
from signing.secret import Secret
from signing.sm import hmac_sm3_hex, sm2_generate, sm2_sign, sm2_verify, sm3_hex, verify_hmac_sm3_hex
from signing.trust import TrustStore, Usage, as_datetime
from signing.xmldsig import _certificates, _check_profile, sign_enveloped, verify_enveloped

REPO = Path(__file__).resolve().parents[1]
G60_SAMPLE = REPO / "tests" / "data" / "platforms" / "samples" / "g60" / "case" / "SC001.xml"

BODY = (
    '{"caseNo":"3302002405421339994","seq":4,"status":"SB","eventTime":"2025-09-09 00:51:16",'
    '"deptName":"宁波市市场监督管理局","opinion":"材料齐全，符合法定形式"}'
).encode()
G60_DOC = """<?xml version="1.0" encoding="GB18030"?>
<G60Message xmlns="urn:yrd:g60:ywtb:1.0"><Header><MessageId>7d3c1c7e-1111-4e2f-9a7b-000000000001</MessageId>
<MessageType>CaseStatus</MessageType><SenderCode>310117</SenderCode><ReceiverCode>330400</ReceiverCode>
<SentAt>20260601120000</SentAt></Header><Body><StatusEvent><CaseNo>3101172506000000001</CaseNo><Seq>4</Seq>
<Status>SB</Status><Opinion>材料齐全，符合法定形式</Opinion></StatusEvent></Body></G60Message>""".encode("gb18030")


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``fn`` over about ``seconds`` (after a short warm-up)."""
    for _ in range(3):
        fn()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(8):
            fn()
        n += 8
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def row(name: str, s: float, rs: float, v: float, rv: float) -> None:
    print(f"{name:<34}{s:>10,.0f}{rs:>10,.0f}{rs / s:>7.2f}x{v:>11,.0f}{rv:>10,.0f}{rv / v:>7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.4, help="measuring time per figure")
    t = parser.parse_args().seconds
    print(f"{'scheme':<34}{'sign/s':>10}{'raw':>10}{'ovh':>8}{'verify/s':>11}{'raw':>10}{'ovh':>8}")

    # detached JWS ES256 vs raw ECDSA P-256 (DER) over the same signing input
    es = SigningKey.of("bench-es", generate_p256())
    keys = {es.kid: es.verification_key()}
    header = sign_detached(BODY, es)
    si = header.split(".")[0].encode() + b"." + BODY
    ecdsa = ec.ECDSA(hashes.SHA256())
    der = es.private.sign(si, ecdsa)
    pub = es.verification_key().public
    row(
        "JWS detached ES256",
        rate(lambda: sign_detached(BODY, es), t),
        rate(lambda: es.private.sign(si, ecdsa), t),
        rate(lambda: verify_detached(header, BODY, keys, {"ES256"}), t),
        rate(lambda: pub.verify(der, si, ecdsa), t),
    )

    # JWT ES256 (PyJWT inside) vs the same raw ECDSA
    claims = {"iss": "i", "sub": "s", "aud": "a", "iat": 1_748_395_200, "exp": 1_748_395_800}
    token = issue_jwt(claims, es)
    row(
        "JWT ES256 (PyJWT)",
        rate(lambda: issue_jwt(claims, es), t),
        rate(lambda: es.private.sign(si, ecdsa), t),
        rate(lambda: verify_jwt(token, keys, {"ES256"}, now=1_748_395_300, audience="a"), t),
        rate(lambda: pub.verify(der, si, ecdsa), t),
    )

    # SM2-with-SM3 vs raw tongsuopy
    sm = sm2_generate()
    sm_pub = sm.public_key()
    alg = sm_ec.ECDSA(sm_hashes.SM3())
    sm_sig = sm2_sign(sm, BODY)
    row(
        "SM2-SM3 (DER)",
        rate(lambda: sm2_sign(sm, BODY), t),
        rate(lambda: sm.sign(BODY, alg), t),
        rate(lambda: sm2_verify(sm_pub, sm_sig, BODY), t),
        rate(lambda: sm_pub.verify(sm_sig, BODY, alg), t),
    )

    # HMAC-SM3 hex vs raw HMAC; and the whole AuthHeader-style scheme (exc-C14N + SM3 + HMAC)
    secret = Secret("bench-only-secret")

    def raw_hmac() -> bytes:
        mac = hmac.HMAC(b"bench-only-secret", hashes.SM3())
        mac.update(BODY)
        return mac.finalize()

    mac_hex = hmac_sm3_hex(secret, BODY)
    row(
        "HMAC-SM3 (hex)",
        rate(lambda: hmac_sm3_hex(secret, BODY), t),
        rate(raw_hmac, t),
        rate(lambda: verify_hmac_sm3_hex(secret, BODY, mac_hex), t),
        rate(raw_hmac, t),
    )
    element = etree.fromstring(G60_DOC)[1]

    def scheme() -> str:
        digest = sm3_hex(etree.tostring(element, method="c14n", exclusive=True, with_comments=False))
        return hmac_sm3_hex(secret, f"app\n1749826638000\nnonce\n{digest}".encode())

    sc = rate(scheme, t)
    row("  + exc-C14N + SM3 of element", sc, rate(raw_hmac, t), sc, rate(raw_hmac, t))

    # XMLDSig sign+verify (RSA 2048, exc-C14N, SHA-256) vs raw RSA PKCS#1 v1.5 SHA-256
    ca = make_ca()
    signer = issue_xml_signing(ca, "310117")
    trust = TrustStore("bench", (ca.cert,))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    doc = etree.fromstring(G60_DOC, parser)
    signed = sign_enveloped(doc, signer.key, signer.cert)
    now = time.time()
    pkcs1 = padding.PKCS1v15()
    rsa_sig = signer.key.sign(BODY, pkcs1, hashes.SHA256())
    rsa_pub = signer.key.public_key()
    row(
        "XMLDSig enveloped RSA-SHA256",
        rate(lambda: sign_enveloped(doc, signer.key, signer.cert), t),
        rate(lambda: signer.key.sign(BODY, pkcs1, hashes.SHA256()), t),
        rate(lambda: verify_enveloped(signed, trust, now=now), t),
        rate(lambda: rsa_pub.verify(rsa_sig, BODY, pkcs1, hashes.SHA256()), t),
    )

    # RFC 9421 Ed25519 with Content-Digest vs raw Ed25519 over a signature-base-sized input
    ed = SigningKey.of("bench-ed", generate_ed25519())
    ed_keys = {ed.kid: ed.verification_key()}
    comps = ("@method", "@target-uri", "content-digest", "content-type")
    uri = "https://partner.example/api/v2/cases/3302002405644220556/status-events"

    def sign_9421() -> dict[str, str]:
        headers = {"Content-Digest": content_digest(BODY), "Content-Type": "application/json"}
        return sign_message(HttpMessage(headers, "POST", uri), comps, ed, created=1_748_395_200, nonce="n")

    signed_headers = {"Content-Digest": content_digest(BODY), "Content-Type": "application/json", **sign_9421()}
    msg = HttpMessage(signed_headers, "POST", uri)
    base = b"x" * 330
    ed_sig = ed.private.sign(base)
    ed_pub = ed.verification_key().public
    row(
        "RFC 9421 Ed25519 + Content-Digest",
        rate(sign_9421, t),
        rate(lambda: ed.private.sign(base), t),
        rate(lambda: verify_message(msg, comps, ed_keys, body=BODY), t),
        rate(lambda: ed_pub.verify(ed_sig, base), t),
    )
    print("ovh = raw ops/s / scheme ops/s (same process, same key, same bytes)")
    xmldsig_libraries(t)


def cpu_us(fn: Callable[[], object], seconds: float) -> float:
    """CPU µs per call of ``fn`` (process time from the OS, not wall time), over about ``seconds``."""
    for _ in range(3):
        fn()
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        fn()
        n += 1
    return 1e6 * (time.process_time() - start) / n


def xmldsig_libraries(t: float) -> None:
    """The g60 envelope signed and verified by libxmlsec1 (the gateway's ``signing.xmldsig``) and by signxml with
    the profile the gateway used before (same RSA-2048 key, same exclusive C14N, same checks around it)."""
    ca = make_ca()
    signer = issue_xml_signing(ca, "310117")
    trust = TrustStore("bench", (ca.cert,))
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    doc = etree.fromstring(G60_SAMPLE.read_bytes(), parser)
    now = time.time()

    def signxml_sign() -> etree._Element:
        return XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        ).sign(doc, key=signer.key, cert=[signer.cert])

    def signxml_verify(root: etree._Element) -> None:
        leaf, *intermediates = _certificates(_check_profile(root))
        at = as_datetime(now)
        trust.verify(leaf, intermediates, now=at, usage=Usage.SIGNING)
        config = SignatureConfiguration(
            location="./",
            expect_references=1,
            signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
            digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
            verification_time=at,
        )
        XMLVerifier().verify(root, x509_cert=leaf, expect_config=config)

    # each library verifies the other's signature: the same bytes are signed (the choice changes no interop)
    ours = etree.fromstring(etree.tostring(sign_enveloped(doc, signer.key, signer.cert)), parser)
    theirs = etree.fromstring(etree.tostring(signxml_sign()), parser)
    signxml_verify(ours)
    verify_enveloped(theirs, trust, now=now)
    rows = {
        "sign": (cpu_us(lambda: sign_enveloped(doc, signer.key, signer.cert), t), cpu_us(signxml_sign, t)),
        "verify": (
            cpu_us(lambda: verify_enveloped(theirs, trust, now=now), t),
            cpu_us(lambda: signxml_verify(ours), t),
        ),
    }
    print(f"\nXMLDSig of a g60 envelope ({G60_SAMPLE.name}, RSA-2048), CPU us per operation")
    print(f"{'':<10}{'xmlsec':>10}{'signxml':>10}{'signxml/xmlsec':>16}")
    for name, (xs, sx) in rows.items():
        print(f"{name:<10}{xs:>10,.0f}{sx:>10,.0f}{sx / xs:>15.2f}x")


if __name__ == "__main__":
    main()
