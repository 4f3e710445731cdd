"""Licence exchange (一码办): a requester's query with the holder's consent, answered from the issuing platform.

1. The requester (a partner platform) queries the gateway in its own dialect, with the holder's consent token.
2. The issuing platform is found from the licence identifier: its issuer part is a USCC whose characters 3-8 are
   the registering authority's region code (GB 32100), and that region's serving platform holds the licence.
3. The gateway asks the issuing platform in that platform's dialect and scheme, forwarding the consent token; the
   issuing platform's client verifies the answer and the issuer's SM2 licence signature (anhui.md §6.6), so a
   tampered licence never goes further (``SIGNATURE_INVALID``).
4. The gateway then checks the consent against the licence exactly as anhui.md §6.6 describes (issuer's key, the
   real requester as audience, scope containing the licence type code, holder, expiry, lifetime) and the single
   use of its ``jti``; only then does the requester get the licence, in its dialect, with the issuer's signature
   beside it (the signature verifies whichever dialect carried the licence).

Refusals: ``CONSENT_INVALID``, ``SIGNATURE_INVALID``, ``UNKNOWN_REGION`` (no platform issues for that authority),
``UNSUPPORTED_TYPE`` (the issuing platform serves no licences), and the issuing platform's own refusals
(e.g. ``UNKNOWN_CODE`` for a licence it does not hold).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping

from gateway.consent import ConsentVerifier
from gateway.delivery import PermanentRefusal, TransientDeliveryError
from gateway.errors import Rejection
from gateway.errors import RejectionCode as C
from gateway.model.records import LicenceQuery
from gateway.registry import Registry
from gateway.wire.base import InboundCall, LicenceAnswer, PlatformClient

__all__ = ["LicenceService", "issuing_region"]

LICENCE_SERVING_DIALECTS = frozenset({"anhui", "g60", "zlb", "shanghai"})  # README §2


def issuing_region(identifier: str) -> str | None:
    """The region code inside the identifier's issuer USCC (characters 3-8), or None for a malformed identifier."""
    parts = identifier.split(".")
    if len(parts) < 8 or len(parts[6]) != 18:
        return None
    return parts[6][2:8]


class PlatformUnavailable(Exception):
    """The issuing platform did not answer; the requester may try again later."""


class LicenceService:
    def __init__(
        self,
        registry: Registry,
        clients: Mapping[str, PlatformClient],
        consent: ConsentVerifier,
        clock: Callable[[], float],
        remember: Callable[[str, str, float, float], Awaitable[bool]],
    ) -> None:
        """``remember(scope, jti, expires_at, now)`` records a used consent ``jti`` durably (the store's nonce
        table: several instances share it) and says False when it was used before."""
        self.registry = registry
        self.clients = clients
        self.consent = consent
        self.clock = clock
        self.remember = remember

    def issuer_of(self, identifier: str) -> str:
        region = issuing_region(identifier)
        platform = self.registry.serving_platform(region) if region else None
        if platform is None:
            raise Rejection(C.UNKNOWN_REGION, None, "no configured platform issues licences for that authority")
        dialect = self.registry.platforms[platform].dialect
        if dialect not in LICENCE_SERVING_DIALECTS:
            raise Rejection(C.UNSUPPORTED_TYPE, None, "the issuing platform serves no licences")
        return platform

    async def __call__(self, call: InboundCall) -> LicenceAnswer:
        query: LicenceQuery = call.record
        issuer = self.issuer_of(query.identifier)
        client = self.clients.get(issuer)
        if client is None:
            raise Rejection(C.UNKNOWN_REGION, None, "no client is configured for the issuing platform")
        try:
            answer = await client.query_licence(query, str(uuid.uuid4()))
        except PermanentRefusal as exc:
            raise Rejection(exc.code, None, "refused by the issuing platform") from None
        except TransientDeliveryError as exc:
            raise PlatformUnavailable(str(exc)) from exc
        claims = self.consent.verify(query.consent_token, requester=call.platform, licence=answer.licence,
                                     now=self.clock())
        now = self.clock()
        if not await self.remember("consent-jti", str(claims["jti"]), max(float(claims["exp"]), now), now):
            raise Rejection(C.CONSENT_INVALID, "consentToken", "the consent token was already used")
        return answer
