"""The licence signing string of anhui.md §6.6: the same bytes whichever dialect carried the licence.

RFC 8785 (JCS) of the GB/T 36903-named members, with reference values: dates ``yyyy-MM-dd``, codes as reference
values, ``surface`` as ``[name, value]`` pairs. All members are strings or arrays of string pairs with ASCII names,
so JCS reduces to: members sorted by name, no whitespace, and JSON string escaping that writes every character
except the C0 controls, ``"`` and ``\\`` as itself. ``json.dumps(ensure_ascii=False, separators=(",", ":"),
sort_keys=True)`` is exactly that: it escapes ``\\b \\t \\n \\f \\r`` short and the other C0 characters as
``\\u00xx`` in lower-case hex, and leaves U+007F, U+2028, U+2029 and all non-ASCII alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .records import Licence

__all__ = ["LicenceSignature", "licence_signing_string"]


@dataclass(frozen=True, slots=True)
class LicenceSignature:
    """The issuer's signature that travels beside a licence (``digitalSign``): an envelope field (README §9)."""

    value: str  # Base64 DER
    cert_sn: str
    alg: str = "SM2-SM3"
    user_id: str = "1234567812345678"


def licence_signing_string(licence: Licence) -> bytes:
    members: dict[str, object] = {
        "certificateIdentifier": licence.identifier,
        "certificateName": licence.name,
        "certificateTypeCode": licence.type_code,
        "certificateNumber": licence.number,
        "certificateHolder": licence.holder_name,
        "certificateHolderTypeCode": licence.holder_id_type,
        "certificateHolderCode": licence.holder_code,
        "issueDept": licence.issuer_name,
        "issueDeptCode": licence.issuer_code,
        "certificateAreaCode": licence.area_code,
        "issueDate": licence.issue_date.isoformat(),
        "certificateValidateStart": licence.valid_from.isoformat(),
        "certificateStatus": licence.status,
        "surface": [[e.name, e.value] for e in licence.surface],
    }
    if licence.valid_to is not None:
        members["certificateValidateEnd"] = licence.valid_to.isoformat()
    if licence.associated_id is not None:
        members["associatedCertificateIdentifier"] = licence.associated_id
    return json.dumps(members, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
