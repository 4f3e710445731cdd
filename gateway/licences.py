"""Licence exchange (一码办): a requester's query with the holder's consent, answered from the issuing platform.

1. The requester (a partner platform) queries the gateway in its own dialect, with the holder's consent token.
2. Before anything leaves the gateway, the consent is checked as far as the query allows (anhui.md §6.6): the
   issuer's key, the real requester as audience, the licence type code (the identifier's type part, GB/T 36904)
   in ``scope``, expiry and lifetime; then its ``jti`` is reserved in the shared nonce table, so a used (or
   concurrently used) token is refused here too. A refused consent sends nothing to the issuing platform.
3. The issuing platform is found from the licence identifier: its issuer part is a USCC whose characters 3-8 are
   the registering authority's region code (GB 32100), and that region's serving platform holds the licence.
4. The gateway asks the issuing platform in that platform's dialect and scheme, forwarding the consent token; the
   issuing platform's client verifies the answer and the issuer's SM2 licence signature (anhui.md §6.6), so a
   tampered licence never goes further (``SIGNATURE_INVALID``).
5. The one check that needs the licence (the token's ``sub`` is its holder) runs on the answer; only then does the
   requester get the licence, in its dialect, with the issuer's signature beside it. If the exchange fails after
   step 2 (the issuer refuses or is down, the holder differs) the ``jti`` reservation is released: a token is
   spent only by an exchange that succeeded (docs/decisions.md, "Consent before disclosure").

Refusals: ``CONSENT_INVALID``, ``SIGNATURE_INVALID``, ``UNKNOWN_REGION`` (no platform issues for that authority),
``UNSUPPORTED_TYPE`` (the issuing platform serves no licences), and the issuing platform's own refusals
(e.g. ``UNKNOWN_CODE`` for a licence it does not hold; a code README §10 does not list is parsed by
:func:`gateway.errors.peer_code` into its documented fallback).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping

from gateway.consent import CONSENT_FIELD, ConsentVerifier, check_holder
from gateway.delivery import DeliveryError
from gateway.dialects import dialect
from gateway.errors import GatewayError, Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.records import LicenceQuery
from gateway.registry import Registry
from gateway.wire.base import InboundCall, LicenceAnswer, PlatformClient

__all__ = ["JTI_SCOPE", "LicenceService", "issuing_region", "licence_type_code"]

JTI_SCOPE = "consent-jti"  # the nonce table's scope of spent consent token ids

# What the requester reads when the exchange with the issuer ended in a refusal: the issuer's free text and field
# path stay out (they may echo the licence), the code and who refused stay in.
_ISSUER_REFUSED = {
    Side.PEER: "refused by the issuing platform",
    Side.OURS: "the issuing platform's answer was refused by the gateway",
}

def issuing_region(identifier: str) -> str | None:
    """The region code inside the identifier's issuer USCC (characters 3-8), or None for a malformed identifier."""
    parts = identifier.split(".")
    if len(parts) < 8 or len(parts[6]) != 18:
        return None
    return parts[6][2:8]


def licence_type_code(identifier: str) -> str | None:
    """The identifier's licence type code (its sixth part: definer USCC + 3 digits, GB/T 36904), or None.

    The decoder has already checked the identifier's shape and check character (README §7.4); this only picks the
    part, so that the consent's ``scope`` can be checked before the licence is fetched.
    """
    parts = identifier.split(".")
    if len(parts) < 8 or len(parts[5]) != 21:
        return None
    return parts[5]


class PlatformUnavailable(GatewayError):
    """The issuing platform did not answer; the requester may try again later."""


class LicenceService:
    def __init__(
        self,
        registry: Registry,
        clients: Mapping[str, PlatformClient],
        consent: ConsentVerifier,
        clock: Callable[[], float],
        remember: Callable[[str, str, float, float], Awaitable[bool]],
        forget: Callable[[str, str], Awaitable[None]],
    ) -> None:
        """``remember(scope, jti, expires_at, now)`` records a consent ``jti`` durably (the store's nonce table:
        several instances share it) and says False when it is recorded already; ``forget(scope, jti)`` takes a
        record back (an exchange that did not succeed must not spend the holder's token)."""
        self.registry = registry
        self.clients = clients
        self.consent = consent
        self.clock = clock
        self.remember = remember
        self.forget = forget

    def issuer_of(self, identifier: str) -> str:
        region = issuing_region(identifier)
        platform = self.registry.serving_platform(region) if region else None
        if platform is None:
            raise Refusal(C.UNKNOWN_REGION, None, "no configured platform issues licences for that authority")
        if not dialect(self.registry.platforms[platform].dialect).issues_licences:  # README §2
            raise Refusal(C.UNSUPPORTED_TYPE, None, "the issuing platform serves no licences")
        return platform

    async def __call__(self, call: InboundCall) -> LicenceAnswer:
        query: LicenceQuery = call.record
        type_code = licence_type_code(query.identifier)
        if type_code is None:  # the decoders refuse such an identifier; never forward one whose scope is unknown
            raise Refusal(C.CONSENT_INVALID, CONSENT_FIELD, "the identifier names no licence type")
        now = self.clock()
        claims = self.consent.admit(query.consent_token, requester=call.platform, type_code=type_code, now=now)
        issuer = self.issuer_of(query.identifier)
        client = self.clients.get(issuer)
        if client is None:
            raise Refusal(C.UNKNOWN_REGION, None, "no client is configured for the issuing platform")
        jti = str(claims["jti"])
        if not await self.remember(JTI_SCOPE, jti, max(float(claims["exp"]), now), now):
            raise Refusal(C.CONSENT_INVALID, CONSENT_FIELD, "the consent token was already used")
        try:
            try:
                answer = await client.query_licence(query, str(uuid.uuid4()))
            except Refusal as exc:  # its code was parsed once, by the client (issue 13: NOT_FOUND was a 500)
                raise Refusal(exc.code, None, _ISSUER_REFUSED[exc.side], side=exc.side) from None
            check_holder(claims, answer.licence)
        except DeliveryError as exc:  # down, or unreachable as configured (Undeliverable): nobody refused the query
            await self.forget(JTI_SCOPE, jti)
            raise PlatformUnavailable(str(exc)) from exc
        except BaseException:
            await self.forget(JTI_SCOPE, jti)
            raise
        return answer
