"""Which reference fields hold personal data (PIPL), and masking them in a record's reference values.

Personal: the names, ID numbers, phones and addresses of applicants, agents and evaluators; a licence holder's name
and code (an ID number for a natural person). Not personal: department and issuer USCCs, item codes, case numbers,
licence identifiers. Operators see masked values unless they hold the decryption key of the message log.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PERSONAL_FIELDS", "mask_value", "masked_ref"]

PERSONAL_FIELDS = frozenset(
    {
        "applicant.name",
        "applicant.id_number",
        "applicant.phone",
        "applicant.address",
        "applicant.legal_rep",
        "agent.name",
        "agent.id_number",
        "agent.phone",
        "holder_name",
        "holder_code",
    }
)


def mask_value(value: str) -> str:
    """Keep the first and last character of long values, nothing of short ones: enough to tell two apart on a
    screen, never enough to read them (``340121199904278686`` → ``3****************6``)."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def masked_ref(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A copy of a record's reference values (``to_ref``) with the personal fields masked."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out[key] = masked_ref(value, path + ".")
        elif path in PERSONAL_FIELDS and isinstance(value, str):
            out[key] = mask_value(value)
        else:
            out[key] = value
    return out
