"""Enveloped XMLDSig over an lxml tree, one fixed profile, via libxmlsec1 (python-xmlsec; never hand-rolled C14N).

Profile (XML Signature 1.1): ``ds:Signature`` is the *last* child of the root; ``CanonicalizationMethod``
exclusive C14N 1.0 without comments; ``SignatureMethod`` RSA-SHA256 (PKCS#1 v1.5, RSA >= 2048); exactly one
``Reference URI=""`` with transforms enveloped-signature then exclusive C14N and a SHA-256 digest; the signer's
certificate (then any intermediates) in ``KeyInfo/X509Data/X509Certificate``.

Verification is fail-closed and explicit before libxmlsec1 runs: the signature element's position, every
algorithm URI, the reference/transform list and the shape of ``SignedInfo`` are checked against the profile
(anything else is refused, not tolerated), the certificate is validated against the partner's
:class:`signing.trust.TrustStore` at the injected time, and only then does libxmlsec1 verify digest and signature
*with that certificate's key* (the context is given the key, so the message does not get to choose it).
The verified certificate is returned so the caller can match its subject ``serialNumber`` with the sender code.

Why libxmlsec1 and not signxml (issue 15 item 3): on a g60 envelope, signxml's verify (it serialises and
re-parses the tree, then checks it against the XMLDSig schema) cost ~780 µs of CPU against ~180 µs here, and its
sign (two copies of the tree before canonicalising) ~620-670 µs against ~600-630 µs, the RSA-2048 signature being
~550 µs of either (``bench/signing.py``). The canonicalisation is libxml2's own in both (lxml's is the same code).

The ``ds:Signature`` skeleton is built with lxml, not with ``xmlsec.template``: elements libxmlsec1 creates are
not found by lxml's tag matching on the same tree (they carry names outside the document's dictionary), and the
signed tree is inspected by lxml afterwards. ``KeyInfo`` is appended after signing: ``SignedInfo`` does not
reference it and the enveloped transform removes the whole ``ds:Signature`` from the digest.

Inputs are lxml elements the caller parsed safely (no DTD, no network). Serialisation (and the document's encoding,
e.g. GB18030) is the caller's business.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import functools
from typing import Any, Final

import xmlsec
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from signing.errors import CertificateInvalid, KeyInvalid, SignatureInvalid
from signing.trust import TrustStore, Usage, as_datetime

__all__ = [
    "C14N_EXC",
    "DIGEST_SHA256",
    "DS_NS",
    "SIG_RSA_SHA256",
    "sign_enveloped",
    "sign_in_place",
    "verify_enveloped",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
C14N_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_MIN_RSA_BITS = 2048
_KEYS_KEPT = 64  # loaded keys remembered (a PEM load is ~60-80 µs; a gateway has a handful of XMLDSig keys)


def _ds(local: str) -> str:
    return f"{{{DS_NS}}}{local}"


_SIGNED_INFO_CHILDREN = [_ds("CanonicalizationMethod"), _ds("SignatureMethod"), _ds("Reference")]


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _signing_key(key: rsa.RSAPrivateKey) -> xmlsec.Key:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _verification_key(cert: x509.Certificate) -> xmlsec.Key:
    pem = cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)


def _build_skeleton(parent: Any) -> Any:
    """The profile's ``ds:Signature`` (empty digest and signature values), appended as the last child of ``parent``."""
    sig = etree.SubElement(parent, _ds("Signature"), nsmap={"ds": DS_NS})
    signed_info = etree.SubElement(sig, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=C14N_EXC)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=SIG_RSA_SHA256)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=C14N_EXC)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=DIGEST_SHA256)
    etree.SubElement(reference, _ds("DigestValue"))
    etree.SubElement(sig, _ds("SignatureValue"))
    return sig


#: The skeleton, built once: each signature starts as a copy of it (copying 11 elements costs ~2.5 µs of CPU, building
#: them one ``SubElement`` at a time ~15 µs; the signed bytes are the same, tests/signing/test_signing_xmldsig.py).
_SKELETON: Final = _build_skeleton(etree.Element("skeleton"))


def _skeleton(root: Any) -> Any:
    """Append the profile's ``ds:Signature`` (empty digest and signature values) as the last child of ``root``."""
    sig = copy.deepcopy(_SKELETON)
    root.append(sig)
    return sig


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _certificate_texts(certs: tuple[x509.Certificate, ...]) -> tuple[str, ...]:
    """``X509Certificate`` values (Base64 DER) of a signer's chain: made once per signer, not once per signature."""
    return tuple(base64.b64encode(each.public_bytes(serialization.Encoding.DER)).decode("ascii") for each in certs)


def sign_enveloped(
    root: Any, key: rsa.RSAPrivateKey, cert: x509.Certificate, intermediates: tuple[x509.Certificate, ...] = ()
) -> Any:
    """Return a signed copy of ``root`` with ``ds:Signature`` appended as its last child."""
    return sign_in_place(copy.deepcopy(root), key, cert, intermediates)


def sign_in_place(
    root: Any, key: rsa.RSAPrivateKey, cert: x509.Certificate, intermediates: tuple[x509.Certificate, ...] = ()
) -> Any:
    """Sign ``root`` itself (``ds:Signature`` appended as its last child) and return it.

    For a tree made for this one signature (a message the adapter rendered, just parsed): the copy
    :func:`sign_enveloped` makes to leave its input as it was is work for nothing there.
    """
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < _MIN_RSA_BITS:
        raise KeyInvalid("xmldsig_key", "XMLDSig signs with RSA >= 2048 bits")
    sig = _skeleton(root)
    context = xmlsec.SignatureContext()
    context.key = _signing_key(key)
    try:
        context.sign(sig)
    except xmlsec.Error as exc:
        root.remove(sig)  # the tree as it was given
        raise SignatureInvalid("sign_failed", "XMLDSig signing failed") from exc
    x509_data = etree.SubElement(etree.SubElement(sig, _ds("KeyInfo")), _ds("X509Data"))
    for text in _certificate_texts((cert, *intermediates)):
        etree.SubElement(x509_data, _ds("X509Certificate")).text = text
    return root


def _algorithm(parent: Any, local: str) -> str | None:
    found = parent.findall(_ds(local))
    if len(found) != 1:
        return None
    value = found[0].get("Algorithm")
    return value if isinstance(value, str) else None


def _refuse(reason: str, detail: str) -> SignatureInvalid:
    return SignatureInvalid(reason, detail)


def _check_profile(root: Any) -> Any:
    """Check position, shape and algorithms; return the ``ds:Signature`` element."""
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
    # the XMLDSig schema's shape, which libxmlsec1 does not check as strictly: nothing else in SignedInfo, and
    # Base64 values that are text only
    if [child.tag for child in si] != _SIGNED_INFO_CHILDREN:
        raise _refuse("malformed_signature", "SignedInfo holds only CanonicalizationMethod, SignatureMethod, Reference")
    values = [*refs[0].findall(_ds("DigestValue")), *sig.findall(_ds("SignatureValue"))]
    if len(values) != 2 or any(len(value) for value in values):
        raise _refuse("malformed_signature", "one DigestValue and one SignatureValue, text only, expected")
    return sig


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _certificate(text: str) -> x509.Certificate:
    """The certificate an ``X509Certificate`` value holds; remembered, since a partner signs with one certificate for
    months (the chain, validity and usage are checked at every verify all the same, by the trust store)."""
    try:
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _refuse("malformed_certificate", "X509Certificate is not a Base64 DER certificate") from exc


def _certificates(sig: Any) -> list[x509.Certificate]:
    nodes = sig.findall(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    if not nodes:
        raise _refuse("missing_certificate", "KeyInfo/X509Data/X509Certificate is missing")
    return [_certificate("".join((node.text or "").split())) for node in nodes]


def verify_enveloped(root: Any, trust: TrustStore, *, now: float | dt.datetime) -> x509.Certificate:
    """Verify the enveloped signature of ``root``; return the signer's verified certificate.

    Raises :class:`SignatureInvalid` (missing, misplaced, refused algorithm, malformed, tampered content) or
    :class:`CertificateInvalid` (untrusted chain, expired, wrong usage, weak key), and nothing else: whatever
    libxmlsec1 raises on a malformed or failing signature is mapped here, at the boundary (issue 11 item 4).
    """
    sig = _check_profile(root)
    leaf, *intermediates = _certificates(sig)
    try:
        public = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:  # a DER certificate whose key cryptography cannot load
        raise CertificateInvalid("weak_key", "XMLDSig certificate's key cannot be read") from exc
    if not isinstance(public, rsa.RSAPublicKey) or public.key_size < _MIN_RSA_BITS:
        raise CertificateInvalid("weak_key", "XMLDSig certificate must hold an RSA key >= 2048 bits")
    trust.verify(leaf, intermediates, now=as_datetime(now), usage=Usage.SIGNING)
    context = xmlsec.SignatureContext()
    context.key = _verification_key(leaf)
    try:
        context.verify(sig)
    except xmlsec.VerificationError as exc:
        raise SignatureInvalid("bad_signature", "XMLDSig does not verify") from exc
    except xmlsec.Error as exc:  # the peer's bytes, not our bug: a refusal, never an unsigned 500
        raise SignatureInvalid("malformed_signature", "ds:Signature cannot be read as XMLDSig") from exc
    return leaf
