"""Every worked example printed in the platforms' interface documents, recomputed or verified with our primitives.

The keys and secrets are the documents' TEST ONLY values; the documents are read from ``samples_dir``/
``platforms_dir`` so a change to them shows up here.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from lxml import etree

from signing.digests import md5_hex, sha256_hex
from signing.errors import SignatureInvalid
from signing.httpsig import HttpMessage, content_digest, sign_message, signature_base, verify_message
from signing.jws import protected_header, sign_detached, verify_detached
from signing.jwt import verify_jwt
from signing.keys import (
    SigningKey,
    VerificationKey,
    load_private_key,
    load_public_key,
    sm2_private_from_hex,
    sm2_public_from_hex,
    sm2_public_to_hex,
)
from signing.secret import Secret
from signing.sm import hmac_sm3_hex, sm2_sign_b64, sm2_verify_b64, sm3_hex, verify_hmac_sm3_hex

# anhui.md §3 (TEST ONLY)
ANHUI_JWS_PRIVATE = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKTwcxucw/Y7iQNl+
2yZxwNPYn0tRWg/nrPkzabrlLWGhRANCAATwnjZhgE6YcpYJYMEdUoEq332Avupg
2Xwc/Cn/IoeCXlbkF73AM2BVTSzE4WwuUILnXKS9cGnOJs7fL8K3iPm6
-----END PRIVATE KEY-----
"""
ANHUI_JWS_PUBLIC = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8J42YYBOmHKWCWDBHVKBKt99gL7q
YNl8HPwp/yKHgl5W5Be9wDNgVU0sxOFsLlCC51ykvXBpzibO3y/Ct4j5ug==
-----END PUBLIC KEY-----
"""
ANHUI_JWS_HEADER = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImhlZmVpLWp3cy10ZXN0LTAxIiwiYjY0IjpmYWxzZSwiY3JpdCI6WyJiNjQiXX0"
    "..Bn8X75z1hsn17QvTV4wJhsXntt2kztRXWU1m4bBwW83DQkI3uFPn2mnUxV3urDXVnSqnKSLLBz4ysYavcM-NmQ"
)
# anhui.md §9 (TEST ONLY)
LICENCE_D = "4a0a24ca0ffb887639080d8b327578443fc2bf8f33e38f48326f3a060bb66435"
LICENCE_PUB = (
    "0436d2649b0e40d13df5c87947e5b8aae807d307c24ae9bf965c53c8b0320226a0"
    "f8ce9e76c0d5ebac8fb0d8c23a381d5fee4298da23cedc15df00a6902c0abb13"
)
LICENCE_SIG = "MEQCIEz2VE7PDkKYrImrMuZgJ0eeoREBlcoY57fjwlkQeaV+AiA4i9tuzBqFM55OXTRqwV/pCpP0TKnIGpsT14iND1rA9g=="
CONSENT_PUBLIC = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEGhLCfY6s3bANgLvDhsm/DE9rdPH1
cQsTNiHcGsxdWj5ukHKDdngW6JmlOVwz8hsNlyblBmtRSTIzJuE+AmI3ew==
-----END PUBLIC KEY-----
"""
CONSENT_TOKEN = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImFoa20tY29uc2VudC10ZXN0LTAxIiwidHlwIjoiSldUIn0."
    "eyJpc3MiOiJodHRwczovL2FrbS5haHp3ZncuZ292LmNuIiwic3ViIjoiOTEzMzAyMDBNQjdVWUoxQTZIIiwiYXVkIjoibmluZ2JvIiwic2Nv"
    "cGUiOiIxMTEwMDAwME1CM0wwREQ3MFcwMTciLCJwdXJwb3NlIjoiMzMwMjAwMjUwNjAwMDAwMDQxNyIsImp0aSI6ImMwZmZlZTAwLTEyMzQt"
    "NGFiYy04ZGVmLTAwMDAwMDAwMDAwMSIsImlhdCI6MTc0ODM5NTIwMCwiZXhwIjoxNzQ4Mzk1ODAwfQ."
    "xn_vDptptD0SUryRVWmdawGcfz11BgGqpEwe8Y6tQcTZnOYuBLXcBtp756dankwwRYpG2iOTiw9V7GsCCO2sfA"
)
# zlb.md §3 (TEST ONLY)
ZLB_D = "5d3e176e6adfeb36ff3453cafbcddb9f74af4865087dd70bf9714584308c0f2f"
ZLB_PUB = (
    "04d64f5966b47123cbb760a51a1955bae5b6234982582cac5291ea05487b317ef8"
    "66c608ac5aeb44c34507d26e108c41678d6dba88f07d640fb99cb50cae5bbb35"
)
ZLB_SIG = "MEQCIDsDMZSkqbdb4pp1ZFYH/RbSWSgZt+NLwBmn9WrnFYnCAiBj70M+bvMzght57jWX2pJmm6+AG7Pmc9dkZ3pm80LsNQ=="
# hunan.md §2, §3 (TEST ONLY)
HUNAN_CLIENT_PUBLIC = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/QC+WkgP+kVvgxj+BedAJ3Txiwtt
ETyjUaWy6NAKUMGjqe8OWWIX/aSnvD8FRGlqWEtWjulMquDeoINJhNlI/Q==
-----END PUBLIC KEY-----
"""
HUNAN_ASSERTION = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6Imd3LWNsaWVudC10ZXN0LTAxIiwidHlwIjoiSldUIn0."
    "eyJpc3MiOiJ0b25nYmFuLWd3LXRlc3QiLCJzdWIiOiJ0b25nYmFuLWd3LXRlc3QiLCJhdWQiOiJodHRwczovL2tzdGIuaHVuYW4uZ292LmNu"
    "L29hdXRoMi90b2tlbiIsImp0aSI6IjZmMWQyYzNiLTBhOWUtNGY4ZC1iN2M2LTAwMDAwMDAwMDAwMSIsImlhdCI6MTc0ODM5NTIwMCwiZXhw"
    "IjoxNzQ4Mzk1NTAwfQ."
    "x7G-6SW9gRQAzowtzZGjC-pviO1pxTXtM8PFPhN851L8GZV7rSQN0dwQhMsoU3iHk0bwX2KUFGGGlhlaWQcTtw"
)
HUNAN_ED25519 = "57c50c32adee9d9a4e207363b02f59607439c387d2f54587cc3c2df2fd46a26f"
HUNAN_ED25519_PUB = "756e83fda4f8ea9dcf11e428da14ede40da6282522206cc2e2c1e8328e82f624"
HUNAN_URI = "https://kstb.hunan.gov.cn/api/v2/cases/3302002405644220556/status-events"
HUNAN_DIGEST = "sha-256=:LBXZAJqCH6cBvzVxtiEv9g+I711J3FpoJbN0Fe5/jcs=:"
HUNAN_INPUT = (
    'sig1=("@method" "@target-uri" "content-digest" "content-type");created=1748395200;'
    'nonce="b3k2pp5k7z-50gnwp.yemd";keyid="gw-ed25519-test-01";alg="ed25519"'
)
HUNAN_SIGNATURE = "sig1=:GubBs60xGK6nPRtzgC/XZYuWGvWof/iN9S09ZnvFWM7iMroGZjixlKbgCvRTgQVqF4oG2P3pIFlXwQrnfEaSBw==:"
REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest", "content-type")


def test_anhui_tif_signature_is_the_printed_sha256_hex() -> None:
    ts, token, nonce = "1748395200", "test-only-paas-token-hefei-0001", "1970b6a2c00-5f3e9a1b2c4d6e"
    string = ts + Secret(token).reveal_str() + nonce + ts
    assert string == "1748395200test-only-paas-token-hefei-00011970b6a2c00-5f3e9a1b2c4d6e1748395200"
    assert sha256_hex(string) == "06355578fc48ca9115db178ce4269866cf05195b69bb0023e17e9c80d24d06c7"


def test_anhui_detached_jws_of_ss001_verifies_with_printed_key(samples_dir: Path) -> None:
    body = (samples_dir / "anhui/status/SS001.json").read_bytes()
    assert len(body) == 288
    assert sha256_hex(body) == "1d3f7c0cc584518ff592bae967cd91dbaee5a9e3328e2373bc105db725c60ea7"
    key = VerificationKey.of("hefei-jws-test-01", load_public_key(ANHUI_JWS_PUBLIC))
    assert verify_detached(ANHUI_JWS_HEADER, body, {key.kid: key}, {"ES256"}) == "hefei-jws-test-01"
    assert protected_header("hefei-jws-test-01") == ANHUI_JWS_HEADER.split(".", maxsplit=1)[0]
    with pytest.raises(SignatureInvalid):
        verify_detached(ANHUI_JWS_HEADER, body + b" ", {key.kid: key}, {"ES256"})


def test_anhui_jws_own_signature_round_trips_with_printed_private_key(samples_dir: Path) -> None:
    body = (samples_dir / "anhui/status/SS001.json").read_bytes()
    signing = SigningKey.of("hefei-jws-test-01", load_private_key(ANHUI_JWS_PRIVATE))
    public = VerificationKey.of("hefei-jws-test-01", load_public_key(ANHUI_JWS_PUBLIC))
    header = sign_detached(body, signing)
    assert header.startswith(ANHUI_JWS_HEADER.split("..", maxsplit=1)[0] + "..")
    assert header != ANHUI_JWS_HEADER  # ECDSA is randomised
    assert verify_detached(header, body, {public.kid: public}, {"ES256"}) == public.kid


def _licence_signing_string(platforms_dir: Path) -> bytes:
    text = (platforms_dir / "anhui.md").read_text(encoding="utf-8")
    match = re.search(r"Licence signing string \(792 bytes, UTF-8\):\s*```text\n(.*?)\n```", text, re.S)
    assert match, "anhui.md §9 no longer prints the licence signing string"
    return match.group(1).encode("utf-8")


def test_anhui_licence_sm2_signature_verifies(platforms_dir: Path) -> None:
    signing_string = _licence_signing_string(platforms_dir)
    assert len(signing_string) == 792
    public = sm2_public_from_hex(LICENCE_PUB)
    sm2_verify_b64(public, LICENCE_SIG, signing_string)
    assert sm2_public_to_hex(sm2_private_from_hex(LICENCE_D).public_key()) == LICENCE_PUB
    with pytest.raises(SignatureInvalid):
        sm2_verify_b64(public, LICENCE_SIG, signing_string.replace(b"VALID", b"REVOKED"))


def test_zlb_sm2_signature_of_ss001_verifies_and_round_trips(samples_dir: Path) -> None:
    body = (samples_dir / "zlb/status/SS001.json").read_bytes()
    assert len(body) == 471
    assert sm3_hex(body) == "14d138073943cd444d6e1bc8f9cb0ab7c8d1efeb4283eb1f0bfb48e0eeed4ed2"
    public = sm2_public_from_hex(ZLB_PUB)
    sm2_verify_b64(public, ZLB_SIG, body)
    private = sm2_private_from_hex(ZLB_D)
    ours = sm2_sign_b64(private, body)
    assert ours != ZLB_SIG  # SM2 is randomised
    sm2_verify_b64(public, ours, body)
    with pytest.raises(SignatureInvalid):
        sm2_verify_b64(sm2_public_from_hex(LICENCE_PUB), ZLB_SIG, body)


def test_zlb_irs_md5_signs() -> None:
    app_key, request_time = "zlb-test-appkey-0001", "1748395200000"
    app_secret = Secret("test-only-app-secret-ningbo")
    request_secret = Secret("test-only-request-secret-7f3a9c")
    assert md5_hex(app_key + app_secret.reveal_str() + request_time) == "b1bae66afd89b44d34fd24ab5035881b"
    assert md5_hex(app_key + request_secret.reveal_str() + request_time) == "c28c73cb8f7afe257666d2d0ae0de450"


def test_consent_token_verifies_inside_its_validity() -> None:
    key = VerificationKey.of("ahkm-consent-test-01", load_public_key(CONSENT_PUBLIC))
    claims = verify_jwt(
        CONSENT_TOKEN, {key.kid: key}, {"ES256"}, now=1748395500, audience="ningbo",
        issuer="https://akm.ahzwfw.gov.cn", typ="JWT", max_lifetime=600,
        required_claims=("iss", "sub", "aud", "scope", "purpose", "jti", "iat", "exp"),
    )  # fmt: skip
    assert claims["sub"] == "91330200MB7UYJ1A6H"
    assert claims["scope"] == "11100000MB3L0DD70W017"
    assert claims["purpose"] == "3302002506000000417"


def test_hunan_client_assertion_verifies_inside_its_validity() -> None:
    key = VerificationKey.of("gw-client-test-01", load_public_key(HUNAN_CLIENT_PUBLIC))
    claims = verify_jwt(
        HUNAN_ASSERTION, {key.kid: key}, {"ES256"}, now=1748395260, typ="JWT",
        audience="https://kstb.hunan.gov.cn/oauth2/token", issuer="tongban-gw-test", max_lifetime=300,
        required_claims=("iss", "sub", "aud", "jti", "iat", "exp"),
    )  # fmt: skip
    assert claims["sub"] == claims["iss"] == "tongban-gw-test"


def test_hunan_rfc9421_example_recomputes_exactly(samples_dir: Path) -> None:
    body = (samples_dir / "hunan/status/SS002.json").read_bytes()
    assert len(body) == 356
    assert content_digest(body) == HUNAN_DIGEST
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(HUNAN_ED25519))
    key = SigningKey.of("gw-ed25519-test-01", private)
    message = HttpMessage(
        {"Content-Digest": content_digest(body), "Content-Type": "application/json"}, "POST", HUNAN_URI
    )
    headers = sign_message(message, REQUEST_COMPONENTS, key, created=1748395200, nonce="b3k2pp5k7z-50gnwp.yemd")
    assert headers == {"Signature-Input": HUNAN_INPUT, "Signature": HUNAN_SIGNATURE}
    base = signature_base(message, REQUEST_COMPONENTS, HUNAN_INPUT.removeprefix("sig1="))
    assert base.decode().splitlines()[0] == '"@method": POST'
    assert base.decode().splitlines()[-1].startswith('"@signature-params": ("@method"')

    public = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(HUNAN_ED25519_PUB))
    received = HttpMessage({**message.headers, **headers}, "POST", HUNAN_URI)
    result = verify_message(received, REQUEST_COMPONENTS, {key.kid: VerificationKey.of(key.kid, public)}, body=body)
    assert (result.keyid, result.created, result.nonce) == ("gw-ed25519-test-01", 1748395200, "b3k2pp5k7z-50gnwp.yemd")


SOAP_NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/", "ex": "urn:sh:ywtb:exchange:2.0"}


def _safe_parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser)


def test_shanghai_hmac_sm3_example(samples_dir: Path) -> None:
    root = _safe_parse((samples_dir / "shanghai/status/SS001.xml").read_bytes())
    operation = root.find("soap:Body/ex:reportStatus", SOAP_NS)
    assert operation is not None
    c14n = etree.tostring(operation, method="c14n", exclusive=True, with_comments=False)
    assert len(c14n) == 359
    digest = sm3_hex(c14n)
    assert digest == "ae1da9172077af5ec68ff68537db2dd82ea47c3292b73509063b884731558115"
    header = root.find("soap:Header/ex:AuthHeader", SOAP_NS)
    assert header is not None
    string = "\n".join([header.get("appId"), header.get("timestamp"), header.get("nonce"), digest])
    assert string == (
        "SJ-TEST-0001\n1749826638000\n76467a3cd07c13c0426702db40166b97\n"
        "ae1da9172077af5ec68ff68537db2dd82ea47c3292b73509063b884731558115"
    )
    secret = Secret("test-only-songjiang-secret-0001")
    sign = hmac_sm3_hex(secret, string.encode("utf-8"))
    assert sign == "300138e471698cbb9bb7dda758e53c61577b285041a8fe56a54665bab68943a6"
    assert sign == header.get("sign")
    verify_hmac_sm3_hex(secret, string.encode("utf-8"), header.get("sign"))
    with pytest.raises(SignatureInvalid):
        verify_hmac_sm3_hex(Secret("another-secret"), string.encode("utf-8"), sign)


@pytest.mark.parametrize("name", ["case/SC002.xml", "licence/SL001.xml"])
def test_shanghai_other_samples_carry_valid_hmac_sm3(samples_dir: Path, name: str) -> None:
    root = _safe_parse((samples_dir / "shanghai" / name).read_bytes())
    body = root.find("soap:Body", SOAP_NS)
    assert body is not None
    assert len(body) == 1
    header = root.find("soap:Header/ex:AuthHeader", SOAP_NS)
    assert header is not None
    digest = sm3_hex(etree.tostring(body[0], method="c14n", exclusive=True, with_comments=False))
    string = "\n".join([header.get("appId"), header.get("timestamp"), header.get("nonce"), digest])
    verify_hmac_sm3_hex(Secret("test-only-songjiang-secret-0001"), string.encode(), header.get("sign"))


def test_printed_sm2_signatures_are_der_in_padded_base64() -> None:
    for value in (LICENCE_SIG, ZLB_SIG):
        raw = base64.b64decode(value, validate=True)
        assert raw[0] == 0x30
        assert raw[1] == len(raw) - 2
