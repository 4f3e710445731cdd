"""Enveloped XMLDSig over an lxml tree, one fixed profile, via signxml (never hand-rolled C14N).

Profile (XML Signature 1.1): ``ds:Signature`` is the *last* child of the root; ``CanonicalizationMethod``
exclusive C14N 1.0 without comments; ``SignatureMethod`` RSA-SHA256 (PKCS#1 v1.5, RSA >= 2048); exactly one
``Reference URI=""`` with transforms enveloped-signature then exclusive C14N and a SHA-256 digest; the signer's
certificate (then any intermediates) in ``KeyInfo/X509Data/X509Certificate``.

Verification is fail-closed and explicit before signxml runs: the signature element's position, every
algorithm URI and the reference/transform list are checked against the profile (anything else is refused,
not tolerated), the certificate is validated against the partner's :class:`signing.trust.TrustStore` at the
injected time, and only then does signxml verify digest and signature *with that certificate* (the message
does not get to choose the key). The verified certificate is returned so the caller can match its subject
``serialNumber`` with the sender code.

Inputs are lxml elements the caller parsed safely (no DTD, no network). signxml re-reads the tree with its own
non-resolving parser. Serialisation (and the document's encoding, e.g. GB18030) is the caller's business.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.algorithms import SignatureConstructionMethod as methods
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from signing.errors import CertificateInvalid, KeyInvalid, SignatureInvalid
from signing.trust import TrustStore, Usage, as_datetime

__all__ = ["C14N_EXC", "DIGEST_SHA256", "DS_NS", "SIG_RSA_SHA256", "sign_enveloped", "verify_enveloped"]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
C14N_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_MIN_RSA_BITS = 2048
#: What signxml lets escape on a signature it cannot even read, besides its own ``SignXMLException``: lxml's
#: ``DocumentInvalid`` (an extra element in ``SignedInfo`` fails its XSD check), ``binascii.Error`` / ``ValueError``
#: (a ``SignatureValue`` or ``DigestValue`` that is not Base64), ``TypeError`` / ``KeyError`` / ``IndexError`` /
#: ``AttributeError`` (an element where text was due, or the other way round). All are the message's fault.
_SIGNXML_PARSE_FAILURES = (etree.LxmlError, ValueError, TypeError, KeyError, IndexError, AttributeError)


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


def sign_enveloped(
    root: Any, key: rsa.RSAPrivateKey, cert: x509.Certificate, intermediates: tuple[x509.Certificate, ...] = ()
) -> Any:
    """Return a signed copy of ``root`` with ``ds:Signature`` appended as its last child."""
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _MIN_RSA_BITS:
        raise KeyInvalid("xmldsig_key", "XMLDSig signs with RSA >= 2048 bits")
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        return signer.sign(root, key=key, cert=[cert, *intermediates])
    except SignXMLException as exc:
        raise SignatureInvalid("sign_failed", "XMLDSig signing failed") from exc


def _algorithm(parent: Any, local: str) -> str | None:
    found = parent.findall(_ds(local))
    if len(found) != 1:
        return None
    value = found[0].get("Algorithm")
    return value if isinstance(value, str) else None


def _refuse(reason: str, detail: str) -> SignatureInvalid:
    return SignatureInvalid(reason, detail)


def _check_profile(root: Any) -> Any:
    """Check position and algorithms; return the ``ds:Signature`` element."""
    if not isinstance(root, etree._Element):
        raise _refuse("malformed_xml", "expected an lxml element")
    signatures = list(root.iter(_ds("Signature")))
    if not signatures:
        raise _refuse("missing_signature", "no ds:Signature")
    if len(signatures) > 1:
        raise _refuse("multiple_signatures", "more than one ds:Signature in the document")
    sig = signatures[0]
    if sig.getparent() is not root or root[-1] is not sig:
        raise _refuse("signature_not_last", "ds:Signature must be the last child of the root")
    signed_info = sig.findall(_ds("SignedInfo"))
    if len(signed_info) != 1:
        raise _refuse("malformed_signature", "one SignedInfo expected")
    si = signed_info[0]
    if _algorithm(si, "CanonicalizationMethod") != C14N_EXC or len(si.find(_ds("CanonicalizationMethod"))):
        raise _refuse("c14n_not_allowed", "CanonicalizationMethod must be exclusive C14N without parameters")
    if _algorithm(si, "SignatureMethod") != SIG_RSA_SHA256:
        raise _refuse("alg_not_allowed", "SignatureMethod must be RSA-SHA256")
    refs = si.findall(_ds("Reference"))
    if len(refs) != 1 or refs[0].get("URI") != "":
        raise _refuse("reference_not_allowed", 'exactly one Reference with URI="" expected')
    transforms = refs[0].findall(f"{_ds('Transforms')}/{_ds('Transform')}")
    if [t.get("Algorithm") for t in transforms] != [ENVELOPED, C14N_EXC] or any(len(t) for t in transforms):
        raise _refuse("transform_not_allowed", "transforms must be enveloped-signature then exclusive C14N")
    if _algorithm(refs[0], "DigestMethod") != DIGEST_SHA256:
        raise _refuse("digest_not_allowed", "DigestMethod must be SHA-256")
    return sig


def _certificates(sig: Any) -> list[x509.Certificate]:
    nodes = sig.findall(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    if not nodes:
        raise _refuse("missing_certificate", "KeyInfo/X509Data/X509Certificate is missing")
    certs = []
    for node in nodes:
        text = "".join((node.text or "").split())
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise _refuse("malformed_certificate", "X509Certificate is not a Base64 DER certificate") from exc
    return certs


def verify_enveloped(root: Any, trust: TrustStore, *, now: float | dt.datetime) -> x509.Certificate:
    """Verify the enveloped signature of ``root``; return the signer's verified certificate.

    Raises :class:`SignatureInvalid` (missing, misplaced, refused algorithm, malformed, tampered content) or
    :class:`CertificateInvalid` (untrusted chain, expired, wrong usage, weak key), and nothing else: whatever
    signxml or lxml raise on a malformed signature is mapped here, at the boundary (issue 11 item 4).
    """
    sig = _check_profile(root)
    leaf, *intermediates = _certificates(sig)
    try:
        public = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:  # a DER certificate whose key cryptography cannot load
        raise CertificateInvalid("weak_key", "XMLDSig certificate's key cannot be read") from exc
    if not isinstance(public, rsa.RSAPublicKey) or public.key_size < _MIN_RSA_BITS:
        raise CertificateInvalid("weak_key", "XMLDSig certificate must hold an RSA key >= 2048 bits")
    at = as_datetime(now)
    trust.verify(leaf, intermediates, now=at, usage=Usage.SIGNING)
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        verification_time=at,
    )
    try:
        XMLVerifier().verify(root, x509_cert=leaf, expect_config=config)
    except SignXMLException as exc:
        raise SignatureInvalid("bad_signature", "XMLDSig does not verify") from exc
    except _SIGNXML_PARSE_FAILURES as exc:  # the peer's bytes, not our bug: a refusal, never an unsigned 500
        raise SignatureInvalid("malformed_signature", "ds:Signature is not the XMLDSig schema's form") from exc
    return leaf
