"""The XMLDSig library is an implementation detail (issue 15 item 3): a g60 message signed by the gateway
(libxmlsec1) verifies under signxml, an independent implementation of the same profile, and a signature signxml
makes with g60's profile verifies under the gateway; a change in either direction would be an interop break."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from signing_testkit import NOW, Pki
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.algorithms import SignatureConstructionMethod as methods
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from signing.errors import SignatureInvalid
from signing.trust import TrustStore
from signing.xmldsig import DS_NS, sign_enveloped, verify_enveloped

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "platforms" / "samples" / "g60"
MESSAGES = sorted(SAMPLES.glob("*/*.xml"))


def _parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


def _wire(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="GB18030")


@pytest.fixture(scope="module")
def trust(pki: Pki) -> TrustStore:
    return TrustStore("g60", (pki.ca.cert,))


def test_the_carried_g60_samples_are_there() -> None:
    assert len(MESSAGES) >= 4, SAMPLES


@pytest.mark.parametrize("sample", MESSAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_gateways_signature_verifies_under_signxml(pki: Pki, sample: Path) -> None:
    signed = _parse(_wire(sign_enveloped(_parse(sample.read_bytes()), pki.signer.key, pki.signer.cert)))
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        verification_time=NOW,
    )
    XMLVerifier().verify(signed, x509_cert=pki.signer.cert, expect_config=config)


@pytest.mark.parametrize("sample", MESSAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_signxml_signature_of_the_g60_profile_verifies_here(pki: Pki, trust: TrustStore, sample: Path) -> None:
    signed = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(_parse(sample.read_bytes()), key=pki.signer.key, cert=[pki.signer.cert])
    assert verify_enveloped(_parse(_wire(signed)), trust, now=NOW) == pki.signer.cert


def test_a_comment_or_extra_element_in_signed_info_is_refused_before_the_library(pki: Pki, trust: TrustStore) -> None:
    signed = _parse(_wire(sign_enveloped(_parse(MESSAGES[0].read_bytes()), pki.signer.key, pki.signer.cert)))
    signed.find(f".//{{{DS_NS}}}SignedInfo").append(etree.Comment("unsigned words"))
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "malformed_signature"


def test_text_added_inside_the_signed_content_fails_the_digest(pki: Pki, trust: TrustStore) -> None:
    signed = _parse(_wire(sign_enveloped(_parse(MESSAGES[0].read_bytes()), pki.signer.key, pki.signer.cert)))
    header = signed[0]
    header[0].text = (header[0].text or "") + "x"
    with pytest.raises(SignatureInvalid) as err:
        verify_enveloped(signed, trust, now=NOW)
    assert err.value.reason == "bad_signature"
