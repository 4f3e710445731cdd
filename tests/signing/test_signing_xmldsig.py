"""Enveloped XMLDSig on a G60-like GB18030 document: round trip, trust, and every refusal."""

from __future__ import annotations

import base64
import copy
import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signing_testkit import NOW, Pki
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.algorithms import SignatureConstructionMethod as methods
from signxml.signer import XMLSigner

from signing.devpki import generate_p256, issue_xml_signing
from signing.errors import CertificateInvalid, KeyInvalid, SignatureInvalid
from signing.trust import TrustStore, subject_serial_number
from signing.xmldsig import DS_NS, sign_enveloped, verify_enveloped

G60 = "urn:yrd:g60:ywtb:1.0"
DOC = f"""<?xml version="1.0" encoding="GB18030"?>
<G60Message xmlns="{G60}">
  <Header>
    <MessageId>7d3c1c7e-1111-4e2f-9a7b-000000000001</MessageId>
    <MessageType>CaseStatus</MessageType>
    <SenderCode>310117</SenderCode>
    <ReceiverCode>330400</ReceiverCode>
    <SentAt>20260601120000</SentAt>
  </Header>
  <Body><StatusEvent><CaseNo>3101172506000000001</CaseNo><Opinion>材料齐全 𠀐 䶮</Opinion></StatusEvent></Body>
</G60Message>""".encode("gb18030")


def _parse(data: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    return etree.fromstring(data, parser)


def _wire(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="GB18030")


@pytest.fixture(scope="module")
def trust(pki: Pki) -> TrustStore:
    return TrustStore("g60", (pki.ca.cert,))


def test_round_trip_through_gb18030_bytes(pki: Pki, trust: TrustStore) -> None:
    signed = sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)
    assert signed[-1].tag == f"{{{DS_NS}}}Signature"
    wire = _wire(signed)
    assert wire.startswith(b"<?xml version='1.0' encoding='GB18030'?>")
    assert "𠀐".encode("gb18030") in wire
    cert = verify_enveloped(_parse(wire), trust, now=NOW)
    assert subject_serial_number(cert) == "310117"


def test_chain_through_intermediate(pki: Pki, trust: TrustStore) -> None:
    signer = pki.signer_via_intermediate
    signed = sign_enveloped(_parse(DOC), signer.key, signer.cert, (pki.intermediate.cert,))
    cert = verify_enveloped(_parse(_wire(signed)), trust, now=NOW)
    assert subject_serial_number(cert) == "330400"


def test_certificate_from_another_ca_refused(pki: Pki, trust: TrustStore) -> None:
    signed = sign_enveloped(_parse(DOC), pki.foreign_signer.key, pki.foreign_signer.cert)
    with pytest.raises(CertificateInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "untrusted_chain"


def test_expired_certificate_refused(pki: Pki, trust: TrustStore) -> None:
    signed = sign_enveloped(_parse(DOC), pki.expired_signer.key, pki.expired_signer.cert)
    with pytest.raises(CertificateInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "expired"
    # and the good certificate is refused too once the clock passes its end
    good = sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)
    with pytest.raises(CertificateInvalid):
        verify_enveloped(good, trust, now=NOW + dt.timedelta(days=400))


def test_certificate_without_digital_signature_usage_refused(pki: Pki, trust: TrustStore) -> None:
    signed = sign_enveloped(_parse(DOC), pki.no_ds_signer.key, pki.no_ds_signer.cert)
    with pytest.raises(CertificateInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "wrong_key_usage"


def test_signature_not_last_refused(pki: Pki, trust: TrustStore) -> None:
    signed = _parse(_wire(sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)))
    etree.SubElement(signed, f"{{{G60}}}Trailer")
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "signature_not_last"
    moved = _parse(_wire(sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)))
    moved.find(f"{{{G60}}}Body").append(moved[-1])
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(moved, trust, now=NOW)
    assert err.value.reason == "signature_not_last"


def test_tampered_element_after_signing_refused(pki: Pki, trust: TrustStore) -> None:
    signed = _parse(_wire(sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)))
    signed.find(f"{{{G60}}}Header/{{{G60}}}SenderCode").text = "330400"
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "bad_signature"


def test_swapped_certificate_refused(pki: Pki, trust: TrustStore) -> None:
    """A trusted certificate pasted into a signature made with another key does not verify."""
    signed = sign_enveloped(_parse(DOC), pki.signer_via_intermediate.key, pki.signer_via_intermediate.cert)
    node = signed.find(f".//{{{DS_NS}}}X509Certificate")
    node.text = base64.b64encode(pki.signer.cert.public_bytes(Encoding.DER)).decode()
    with pytest.raises(SignatureInvalid):
        verify_enveloped(signed, trust, now=NOW)


def test_missing_and_duplicate_signature_refused(pki: Pki, trust: TrustStore) -> None:
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(_parse(DOC), trust, now=NOW)
    assert err.value.reason == "missing_signature"
    signed = sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)
    signed.find(f"{{{G60}}}Body").append(copy.deepcopy(signed[-1]))
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "multiple_signatures"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"signature_algorithm": SignatureMethod.RSA_SHA512}, "alg_not_allowed"),
        ({"digest_algorithm": DigestAlgorithm.SHA512}, "digest_not_allowed"),
        ({"c14n_algorithm": CanonicalizationMethod.CANONICAL_XML_1_1}, "c14n_not_allowed"),
    ],
)
def test_other_algorithms_refused(pki: Pki, trust: TrustStore, kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "method": methods.enveloped,
        "signature_algorithm": SignatureMethod.RSA_SHA256,
        "digest_algorithm": DigestAlgorithm.SHA256,
        "c14n_algorithm": CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    }
    args.update(kwargs)
    signed = XMLSigner(**args).sign(_parse(DOC), key=pki.signer.key, cert=[pki.signer.cert])
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == reason


def test_missing_certificate_refused(pki: Pki, trust: TrustStore) -> None:
    signed = sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)
    key_info = signed.find(f".//{{{DS_NS}}}KeyInfo")
    key_info.getparent().remove(key_info)
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "missing_certificate"


def test_sign_refuses_non_rsa_key(pki: Pki) -> None:
    ec_signer = issue_xml_signing(pki.ca, "310117", key=generate_p256(), now=NOW)
    with pytest.raises(KeyInvalid):
        sign_enveloped(_parse(DOC), ec_signer.key, ec_signer.cert)


def test_non_element_input_refused(trust: TrustStore) -> None:
    with pytest.raises(SignatureInvalid):
        verify_enveloped(DOC, trust, now=NOW)


# --- issue 11 item 4: malformed signatures are refusals, never an exception signxml lets escape ------------------
def _set_text(signed: etree._Element, local: str, text: str) -> etree._Element:
    signed.find(f".//{{{DS_NS}}}{local}").text = text
    return signed


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: _set_text(s, "SignatureValue", "not base64 at all!*"), id="signature_value_not_base64"),
        pytest.param(lambda s: _set_text(s, "DigestValue", "%%%not-base64%%%"), id="digest_value_not_base64"),
        pytest.param(lambda s: _set_text(s, "SignatureValue", "QUJD="), id="signature_value_bad_padding"),
        pytest.param(lambda s: _set_text(s, "DigestValue", ""), id="digest_value_empty"),
        pytest.param(
            lambda s: (s.find(f".//{{{DS_NS}}}SignedInfo").append(etree.Element(f"{{{DS_NS}}}Object")), s)[1],
            id="extra_element_in_signed_info",
        ),
        pytest.param(
            lambda s: (s.find(f".//{{{DS_NS}}}SignedInfo").append(etree.Element("{urn:other}Extra")), s)[1],
            id="foreign_element_in_signed_info",
        ),
        pytest.param(
            lambda s: (s.find(f".//{{{DS_NS}}}SignatureValue").append(etree.Element(f"{{{DS_NS}}}X")), s)[1],
            id="element_inside_signature_value",
        ),
    ],
)
def test_malformed_signature_parts_are_signature_invalid_not_a_crash(pki: Pki, trust: TrustStore, mutate) -> None:  # type: ignore[no-untyped-def]
    signed = _parse(_wire(sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert)))
    with pytest.raises(SignatureInvalid):
        verify_enveloped(mutate(signed), trust, now=NOW)
