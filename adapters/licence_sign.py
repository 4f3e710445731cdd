"""The issuer's licence signature (anhui.md §6.6), verified one way whichever dialect carried the licence.

Every dialect carries the same signature beside a licence (anhui ``data.digitalSign``, zlb ``datas.digitalSign``,
g60 ``Licence/DigitalSign``, shanghai ``DigitalSign``): SM2-SM3 with the default user id, over the licence signing
string (``gateway.model.licence_sign``), under the issuer key the verifying side holds for the certificate serial.
Fails closed: the message never chooses how it is verified, so any other algorithm or user id, an unknown serial or
a value that does not verify is ``SIGNATURE_INVALID`` at the place the dialect carries the signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature, licence_signing_string
from gateway.model.records import Licence
from signing.errors import SigningError
from signing.keys import ALG_SM2_SM3
from signing.sm import SM2_DEFAULT_USER_ID, sm2_verify_b64

__all__ = ["verify_issuer_signature"]

_USER_ID = SM2_DEFAULT_USER_ID.decode("ascii")


def verify_issuer_signature(
    licence: Licence, signature: LicenceSignature | None, issuers: Mapping[str, Any], where: str
) -> LicenceSignature:
    """``signature`` when it verifies over ``licence`` with ``issuers[signature.cert_sn]`` (an SM2 public key);
    ``Refusal(SIGNATURE_INVALID, where)`` otherwise."""
    if signature is None or not signature.value:
        raise Refusal(C.SIGNATURE_INVALID, where, "the licence carries no issuer signature")
    if signature.alg != ALG_SM2_SM3 or signature.user_id != _USER_ID:
        raise Refusal(C.SIGNATURE_INVALID, where, "only SM2-SM3 with the default user id is accepted")
    public = issuers.get(signature.cert_sn)
    if public is None:
        raise Refusal(C.SIGNATURE_INVALID, where, "no issuer key is known for this certificate serial")
    try:
        sm2_verify_b64(public, signature.value, licence_signing_string(licence))
    except SigningError as exc:
        raise Refusal(C.SIGNATURE_INVALID, where, exc.reason) from exc
    return signature
