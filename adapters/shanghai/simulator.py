"""The shanghai simulators' extras beyond submissions (licence queries, catalogue pages, item batches).

Kept apart from the wire scheme so the scheme never depends on the simulators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.shanghai.roles import _IDENTIFIER, Link
from gateway.consent import ConsentVerifier
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.simulate.licences import LicenceLibrary
from gateway.wire.base import InboundCall, InboundResult, LicenceAnswer, WireContext

__all__ = ['install_simulator_extras']


def install_simulator_extras(sim: Any, spec: Any, ctx: WireContext) -> None:
    """Answer ``queryLicence`` from a ``LicenceLibrary`` signed with the link's licence key, checking the holder's
    consent with ``requester=None`` (an issuing platform cannot know whom the gateway forwards for).

    ``spec.options``: ``consent_keys`` (kid → ES256 ``VerificationKey``) or ``consent_verifier``; ``licence_library``
    or ``licence_seed``/``licence_size``. Without a licence signing key or consent keys, no licence service: the
    simulator then refuses queries with ``UNSUPPORTED_TYPE``.
    """
    link: Link = ctx.link
    options: Mapping[str, Any] = spec.options
    consent = options.get("consent_verifier")
    if consent is None and options.get("consent_keys"):
        consent = ConsentVerifier(options["consent_keys"])
    library = options.get("licence_library")
    if library is None and link.licence_signer is not None:
        seed, size = int(options.get("licence_seed", 0)), int(options.get("licence_size", 200))
        library = LicenceLibrary(link.licence_signer, link.licence_signer.kid, ctx.platform.region, seed, size)
    if consent is None or library is None:
        return

    async def licence_query(call: InboundCall) -> InboundResult:
        try:
            answer: LicenceAnswer = library.answer(call, consent, ctx.clock(), identifier_field=_IDENTIFIER)
        except Refusal as exc:  # consent.py names the anhui field; place it where shanghai carries the token
            raise (exc.at("queryLicence/ConsentToken") if exc.code == C.CONSENT_INVALID else exc) from None
        return answer

    sim.extras["licence_query"] = licence_query
