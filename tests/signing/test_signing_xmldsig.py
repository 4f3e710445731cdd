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
from signing.xmldsig import DS_NS, sign_enveloped, sign_in_place, verify_enveloped

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


def _signed_the_session_4_way(root: etree._Element, pki: Pki, intermediates: tuple[object, ...] = ()) -> bytes:
    """The signature as ``sign_enveloped`` made it before issue 15 session 5 (a copy of the tree, the skeleton built
    one ``SubElement`` at a time, each certificate encoded at each signature), written out here as the reference."""
    import xmlsec
    from cryptography.hazmat.primitives import serialization

    signed = copy.deepcopy(root)
    ds = f"{{{DS_NS}}}"
    sig = etree.SubElement(signed, ds + "Signature", nsmap={"ds": DS_NS})
    si = etree.SubElement(sig, ds + "SignedInfo")
    etree.SubElement(si, ds + "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(si, ds + "SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ref = etree.SubElement(si, ds + "Reference", URI="")
    transforms = etree.SubElement(ref, ds + "Transforms")
    etree.SubElement(transforms, ds + "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    etree.SubElement(transforms, ds + "Transform", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    etree.SubElement(ref, ds + "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, ds + "DigestValue")
    etree.SubElement(sig, ds + "SignatureValue")
    pem = pki.signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    context.sign(sig)
    x509_data = etree.SubElement(etree.SubElement(sig, ds + "KeyInfo"), ds + "X509Data")
    for each in (pki.signer.cert, *intermediates):
        der = each.public_bytes(Encoding.DER)  # type: ignore[attr-defined]
        etree.SubElement(x509_data, ds + "X509Certificate").text = base64.b64encode(der).decode("ascii")
    return _wire(signed)


def test_signed_bytes_are_those_of_the_session_4_signer(pki: Pki, trust: TrustStore) -> None:
    """The copied skeleton, the in-place signature and the remembered certificate text change no byte on the wire
    (RSA PKCS#1 v1.5 is deterministic: the same key and document give the same signature)."""
    for doc in (DOC, _wire(_parse(DOC.replace(b"  <Header>", b"  <Header>\r\n\t")))):
        expected = _signed_the_session_4_way(_parse(doc), pki)
        assert _wire(sign_enveloped(_parse(doc), pki.signer.key, pki.signer.cert)) == expected
        assert _wire(sign_in_place(_parse(doc), pki.signer.key, pki.signer.cert)) == expected
        assert _wire(sign_in_place(_parse(doc), pki.signer.key, pki.signer.cert)) == expected  # the cached texts
    with_chain = _signed_the_session_4_way(_parse(DOC), pki, (pki.intermediate.cert,))
    assert _wire(sign_enveloped(_parse(DOC), pki.signer.key, pki.signer.cert, (pki.intermediate.cert,))) == with_chain


def test_sign_enveloped_leaves_its_input_alone_and_sign_in_place_signs_it(pki: Pki, trust: TrustStore) -> None:
    root = _parse(DOC)
    before = _wire(root)
    sign_enveloped(root, pki.signer.key, pki.signer.cert)
    assert _wire(root) == before
    assert sign_in_place(root, pki.signer.key, pki.signer.cert) is root
    assert verify_enveloped(_parse(_wire(root)), trust, now=NOW) == pki.signer.cert


def test_a_refused_key_leaves_the_tree_unsigned(pki: Pki) -> None:
    root = _parse(DOC)
    before = _wire(root)
    with pytest.raises(KeyInvalid):
        sign_in_place(root, generate_p256(), pki.signer.cert)  # type: ignore[arg-type]
    assert _wire(root) == before
