"""What answers a verified partner call: submissions go into the pipeline, licence queries to the licence service.

One handler per gateway, shared by every partner endpoint (``InboundHandler``): the endpoint has already checked
the transport (size, authentication, signature, replay) and decoded the message in the partner's dialect.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.dialects import DialectLink
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.licences import LicenceService
from gateway.pipeline.intake import SUBMISSIONS, Intake
from gateway.wire.base import InboundCall, InboundResult
from signing.keys import VerificationKey

__all__ = ["PartnerHandler", "consent_keys_of"]


def consent_keys_of(links: Mapping[str, DialectLink]) -> dict[str, VerificationKey]:
    """The consent issuers' keys every link knows (anhui.md §6.6: the holders' home platforms' ES256 keys)."""
    keys: dict[str, VerificationKey] = {}
    for link in links.values():
        keys.update(link.key_material().consent)
    return keys


class PartnerHandler:
    def __init__(self, intake: Intake, licences: LicenceService | None) -> None:
        self.intake = intake
        self.licences = licences

    async def __call__(self, call: InboundCall) -> InboundResult:
        if call.operation in SUBMISSIONS:
            return await self.intake(call)
        if call.operation == "licence_query" and self.licences is not None:
            return await self.licences(call)
        raise Refusal(C.UNSUPPORTED_TYPE, None, f"the gateway does not take {call.operation} from partners")


